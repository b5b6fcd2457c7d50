"""`ottwatch bench`: throughput and latency of the real loop into a real SQLite file."""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from sqlalchemy import Engine

from ottwatch.commands.common import config_option, creates_database, load, make_folder
from ottwatch.config import Config
from ottwatch.memory import tune_for_throughput
from ottwatch.summary import summary_table


@click.command("bench")
@config_option
@click.option("-n", "--events", default=200_000, show_default=True,
              help="Lines in the timed run.")
@click.option("--users", default=10_000, show_default=True,
              help="Accounts at the start (signups come on top).")
@click.option("--days", default=30.0, show_default=True, help="Days of event time.")
@click.option("--seed", default=7, show_default=True)
@click.option("--uniform", is_flag=True,
              help="The uniform stream of the first benchmarks instead of the realistic one: "
                   "one private IP per user, minutes of event time, no attackers (a best "
                   "case; --days does not apply).")
@click.option("--ingest-only", is_flag=True, help="Measure ingest without scoring stages.")
@click.option("--rules-only", is_flag=True,
              help="Score with the rule-based detectors alone (input security, geo, velocity "
                   "and auth, playback, consent and regulations, segments, adaptive "
                   "thresholds): fraud rings and the learning stage off.")
@click.option("--random-ids", is_flag=True,
              help="Random event ids (UUID4) instead of sequential ones: the unique index on "
                   "event_id then takes each insert at a random place, as with producers "
                   "that send UUID4 ids.")
@click.option("--models", is_flag=True,
              help="Score with trained models: first (untimed) WARM events of the same stream "
                   "are replayed, the highest-scored labelled violations as an analyst would, "
                   "and the anomaly ensemble and violation predictor trained.")
@click.option("--warm", default=100_000, show_default=True,
              help="Warm-up events before the timed run, with --models.")
@click.option("--json", "as_json", is_flag=True, help="End with one JSON object on the last line.")
@click.option("--keep", type=click.Path(file_okay=False), default=None,
              help="Keep the log and database in this folder.")
@creates_database
def command(config_path: str | None, events: int, users: int, days: float, seed: int,
            uniform: bool, ingest_only: bool, rules_only: bool, random_ids: bool, models: bool,
            warm: int, as_json: bool, keep: str | None) -> None:
    """Generate a synthetic stream and push it through the agent loop (parse, validate,
    pipeline, SQLite) from a file, reporting events/s and per-event latency (read to
    commit) percentiles. The stream is the realistic one (ISP pools, carrier NAT,
    households, travellers, signups, attackers among real users, DAYS of event time;
    docs/realistic-stream.md) unless --uniform. `events_per_cpu_s` divides by the CPU
    time of the whole process instead: what one core sustains, unaffected by other load
    on the machine."""
    from agent.replay import run_recorded
    from fixtures.streams import Stream, write_stream

    if rules_only and (models or ingest_only):
        other = "--models" if models else "--ingest-only"
        raise click.UsageError(f"--rules-only cannot be combined with {other}: it scores with "
                               "the rule-based detectors, without models or rings")
    console = Console(stderr=True)
    folder = make_folder(Path(keep)) if keep else Path(tempfile.mkdtemp(prefix="ottwatch-bench-"))
    log_path, db_path, warm_path = folder / "bench.jsonl", folder / "bench.db", folder / "warm.jsonl"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    stream = Stream(events=events, users=users, days=days, seed=seed, uniform=uniform,
                    random_ids=random_ids)
    warm = warm if models else 0
    with console.status(f"generating {warm + events:,} events"):
        warmed, generated = write_stream(log_path, stream, warm=warm,
                                         warm_path=warm_path if warm else None)
    config = load(config_path, str(db_path))
    if rules_only:
        config.rings.enabled = False
        config.scoring.learning.enabled = False
    tune_for_throughput()  # as `ottwatch agent` and `replay` do
    # The synthetic stream may run past today (long --days): all of it is to be measured.
    config.ingest.max_future_skew_s = 0
    if not config.geo.city_db:  # measure with geo lookups on: the fixture databases
        fixtures = Path(str(importlib.resources.files("fixtures")))
        config.geo.city_db = str(fixtures / "data" / "GeoLite2-City.mmdb")
        config.geo.anonymizer_lists = [str(fixtures / "anonymizers.txt")]
    trained = train_on_warm_up(config, warm_path, warmed, console) if models else {}
    started = time.perf_counter()
    console.print(f"running {generated:,} events through the pipeline…")  # no spinner: it
    agent, stats = asyncio.run(run_recorded(config, [str(log_path)],  # would cost throughput
                                            scoring=not ingest_only))
    total = time.perf_counter() - started
    loop_seconds = stats.elapsed  # from the agent's start: excludes opening the database
    result = {
        "events": stats.stored,
        "seconds": round(loop_seconds, 3),
        "total_seconds": round(total, 3),
        "events_per_s": round(stats.stored / loop_seconds, 1),
        "cpu_seconds": round(stats.cpu_seconds, 4),
        "events_per_cpu_s": round(stats.stored / stats.cpu_seconds, 1),
        "p50_ms": round((stats.latency_percentile(50) or 0) * 1000, 2),
        "p99_ms": round((stats.latency_percentile(99) or 0) * 1000, 2),
        "stream": "uniform" if uniform else "realistic",
        "users": users,
        "days": None if uniform else days,
        "lines": generated,
        "ingest_only": ingest_only,
        "rules_only": rules_only,
        "random_ids": random_ids,
        "stages": agent.pipeline.stage_names,
        "models": trained,
        "learning": stage.status if (stage := agent.pipeline.handles.learning) else None,
        "batch_size": config.storage.batch_size,
    }
    Console().print(summary_table(stats, title="ottwatch bench"))
    if as_json:
        click.echo(json.dumps(result))
    if not keep:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def train_on_warm_up(config: Config, path: Path, count: int, console: Console
                     ) -> dict[str, int]:
    """Replay the warm-up log (`count` events of the stream's past), label as an analyst
    would, train every model; the active versions by name (what the timed run loads)."""
    from agent.replay import run_recorded
    from ottwatch.commands.learning import retrain_from_database
    from storage import open_database

    with console.status(f"warming up on {count:,} events"):
        asyncio.run(run_recorded(config, [str(path)]))
    engine = open_database(config.storage.url)
    try:
        label_top_scored(engine)
        with console.status("training the anomaly ensemble and the violation predictor"):
            results = retrain_from_database(engine, config,
                                            config.scoring.learning, "all")
    finally:
        engine.dispose()
    for result in results:
        console.print(f"{result['name']}: {result['status']} - {result['message']}",
                      markup=False)
    return {r["name"]: r["version"] for r in results if r["status"] == "promoted"}


def label_top_scored(engine: Engine, count: int = 40, *, after_id: int = 0) -> None:
    """An analyst's verdicts: the `count` highest-scored events (of the assessments after
    `after_id`) confirmed as violations, as many unflagged ones marked benign."""
    from sqlalchemy import select

    from storage.operator import add_label
    from storage.tables import AssessmentRow

    table = AssessmentRow.__table__
    with engine.connect() as conn:
        worst = conn.execute(select(table.c.event_id).where(table.c.id > after_id).order_by(
            table.c.score.desc(), table.c.id).limit(count)).scalars().all()
        calm = conn.execute(select(table.c.event_id).where(
            table.c.id > after_id, table.c.score == 0).order_by(table.c.id).limit(count)
        ).scalars().all()
    for event_id in worst:
        add_label(engine, event_id, "violation", "bench warm-up", who="ottwatch-bench")
    for event_id in calm:
        add_label(engine, event_id, "benign", "bench warm-up", who="ottwatch-bench")
