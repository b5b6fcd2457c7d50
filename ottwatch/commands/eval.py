"""`ottwatch eval`: the real replay of labelled scenarios, judged against their labels."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from ottwatch.commands.common import FilePath, config_option, creates_database, load, private_umask

DEFAULT_SEEDS = "1,2,3"


def _seeds(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise click.BadParameter("a comma-separated list of integers, e.g. 1,2,3") from None
    if not seeds:
        raise click.BadParameter("at least one seed")
    return seeds


@click.command("eval")
@click.argument("scenarios", nargs=-1, type=FilePath())
@click.option("--seeds", default=DEFAULT_SEEDS, show_default=True, callback=_seeds,
              help="Seeds of the realistic streams to generate (without SCENARIO).")
@click.option("--users", default=1500, show_default=True, type=click.IntRange(min=1),
              help="Accounts of each generated stream.")
@click.option("--days", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Days of event time of each generated stream.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout "
              "(keys in docs/evaluation.md).")
@click.option("--db", type=FilePath(), default=None,
              help="Keep the replay's database here (numbered per scenario when several); "
                   "must not exist. Default: a temporary database, removed afterwards.")
@click.option("--check", is_flag=True,
              help="Exit with status 1 when a floor is missed (docs/evaluation.md).")
@config_option
@creates_database
def command(scenarios: tuple[str, ...], seeds: list[int], users: int, days: float,
            as_json: bool, db: str | None, check: bool, config_path: str | None) -> None:
    """Replay labelled scenarios and judge the detections: per reason code recall and
    precision, benign events at high/critical, incidents alerted per kind, deadlines,
    rings and quarantine.

    With no SCENARIO, realistic streams are generated for --seeds (--users, --days)
    with their ground truth; a SCENARIO is a log with LOG.truth.json (from `ottwatch
    fixtures generate --truth`) or LOG.labels.jsonl beside it. The replay is the one
    of `ottwatch replay`, into a new database. The fixture GeoIP data is used unless
    the config names a City database.
    """
    import orjson
    from rich.console import Console

    from ottwatch.evaluation.floors import floors
    from ottwatch.evaluation.judge import total
    from ottwatch.evaluation.replay import with_fixture_geo
    from ottwatch.evaluation.report import floors_table, report_json, tables
    from ottwatch.evaluation.run import database_for, evaluate_all
    from ottwatch.evaluation.scenarios import ScenarioError, from_file, generate
    from ottwatch.logs import setup_logging

    private_umask()
    config = with_fixture_geo(load(config_path))
    setup_logging(config.log.level)
    keep = Path(db).expanduser().resolve() if db else None
    count = len(scenarios) or len(seeds)
    if keep is not None:
        taken = [p for i in range(count) if (p := database_for(i, count, keep, keep.parent))
                 .exists()]
        if taken:
            raise click.ClickException(f"{taken[0]} exists; eval replays into a new database")
    status = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="ottwatch-eval-") as folder:
        work = Path(folder)
        try:
            chosen = [from_file(s) for s in scenarios]
        except ScenarioError as exc:
            raise click.ClickException(str(exc)) from None
        if not chosen:
            for seed in seeds:
                status.print(f"generating seed {seed} ({users:,} users, {days:g} days)")
                chosen.append(generate(seed, users, days, work))
        judged = evaluate_all(chosen, config, keep, work, progress=status.print)
    summed = total(judged)
    held = floors(summed)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report_json(judged, summed, held),
                                             option=orjson.OPT_INDENT_2) + b"\n")
    else:
        console = Console()
        for judgement in judged if len(judged) > 1 else []:
            console.print(tables(judgement, floors(judgement)))
        console.print(tables(summed, held))
        console.print(floors_table(held))
    if check and not all(f.passed for f in held):
        sys.exit(1)
