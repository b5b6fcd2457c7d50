"""Where one event's time goes: the bench's stream through the agent's own parts
(parse and validate, every stage, the scorer, the sinks, the batch write) on one
thread, each part timed on its own, reported in microseconds of CPU per event.

`ottwatch bench` measures the real loop, whose threads make a sampling profiler
charge the writer's waits for the interpreter lock to whatever released it; this
runs the same parts in sequence so that each one's figure is its own.

    taskset -c 0 python scripts/stage_costs.py -n 200000 --users 10000 --days 30

`--json` ends with one JSON object: the per-part costs and the stream's shape.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from agent.assembly import make_agent
from fixtures.streams import Stream, write_stream
from ottwatch.clock import EventClock
from ottwatch.config import Config
from ottwatch.events import Rejection, parse_line
from ottwatch.memory import tune_for_throughput
from ottwatch.pipeline import Batch
from storage import open_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--uniform", action="store_true", help="the uniform stream")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db", type=Path, help="an existing database with trained models "
                        "(e.g. `ottwatch bench --models --keep DIR`); default: a new one")
    parser.add_argument("--skip", type=int, default=0,
                        help="start the stream after this many events (those in --db)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ottwatch-costs-"))
    log = folder / "events.jsonl"
    stream = Stream(events=args.events, users=args.users, days=args.days, uniform=args.uniform)
    warm = folder / "skipped.jsonl"
    write_stream(log, stream, warm=args.skip, warm_path=warm if args.skip else None)
    warm.unlink(missing_ok=True)
    db = args.db or folder / "costs.db"
    config = Config()
    config.storage.url = f"sqlite:///{db}"
    fixtures = Path(str(importlib.resources.files("fixtures")))
    config.geo.city_db = str(fixtures / "data" / "GeoLite2-City.mmdb")
    config.geo.anonymizer_lists = [str(fixtures / "anonymizers.txt")]
    engine = open_database(config.storage.url)
    clock = EventClock()
    agent = make_agent(config, engine, [], clock)
    pipeline, writer = agent.pipeline, agent.writer
    tune_for_throughput()

    costs: dict[str, float] = defaultdict(float)
    parts = [(stage.name, stage.process) for stage in pipeline.stages]
    lines = log.read_bytes().splitlines()
    size = config.storage.batch_size
    timer = time.process_time
    for start in range(0, len(lines), size):
        began = timer()
        events = [e for offset, line in enumerate(lines[start:start + size], start)
                  if not isinstance(e := parse_line(line, source=str(log), offset=offset),
                                    Rejection)]
        costs["parse + validate"] += timer() - began
        began = timer()
        writer.known_event_ids([e.event_id for e in events])
        costs["dedupe (stored ids)"] += timer() - began
        for event in events:
            clock.advance(event.ts)
        batch = Batch(events=events, now=clock.now())
        for name, process in parts:
            began = timer()
            process(batch)
            costs[f"stage {name}"] += timer() - began
        began = timer()
        pipeline._tick(batch)
        batch.assessments = pipeline.scorer.score(batch)
        costs["scorer"] += timer() - began
        began = timer()
        pipeline._sink(batch)
        pipeline._persist(batch)
        costs["sinks + state snapshots"] += timer() - began
        began = timer()
        writer.write(events=batch.events, quarantined=[], assessments=batch.assessments,
                     positions=[], now=batch.now, upserts=batch.upserts)
        costs["storage (write + commit)"] += timer() - began
    total = sum(costs.values())
    n = len(lines)
    for name, seconds in costs.items():
        print(f"{name:28} {seconds / n * 1e6:7.2f} µs/event")
    print(f"{'total':28} {total / n * 1e6:7.2f} µs/event = {n / total:,.0f} events per CPU "
          "second")
    engine.dispose()
    if args.json:
        print(json.dumps({"lines": n, "users": args.users, "days": args.days,
                          "stream": "uniform" if args.uniform else "realistic",
                          "us_per_event": {k: round(v / n * 1e6, 3) for k, v in costs.items()},
                          "total_us": round(total / n * 1e6, 3)}))


if __name__ == "__main__":
    main()
