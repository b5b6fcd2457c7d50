"""Resident memory of `ottwatch replay` as it goes, to show that state is bounded:
windows expire and per-user state lives in capped LRU maps, so once every user has
been seen the process stops growing however long the log.

    python scripts/replay_memory.py [--events 1000000] [--users 100000] [--days 7] [--every 2]

Prints events stored and RSS every few seconds, then the growth over each fifth of
the run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fixtures.streams import Stream, write_stream


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    kb = next((int(line.split()[1]) for line in status.splitlines()
               if line.startswith("VmRSS:")), None)
    return None if kb is None else kb / 1024  # None: the process is exiting


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--uniform", action="store_true", help="the uniform stream")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ottwatch-memory-"))
    log, db, config = folder / "events.jsonl", folder / "ottwatch.db", folder / "ottwatch.toml"
    write_stream(log, Stream(events=args.events, users=args.users, days=args.days,
                             uniform=args.uniform))
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    config.write_text(f"""[geo]
city_db = "{fixtures / 'data' / 'GeoLite2-City.mmdb'}"
anonymizer_lists = ["{fixtures / 'anonymizers.txt'}"]
""", encoding="utf-8")  # otherwise the defaults, with geo lookups on
    env = {**os.environ, "OTTWATCH_CONFIG": str(config)}
    started = time.monotonic()
    replay = subprocess.Popen([sys.executable, "-m", "ottwatch", "replay", str(log),
                               "--db", str(db)], env=env, stdout=subprocess.DEVNULL)
    samples: list[tuple[float, int, float]] = []
    sampled = -args.every
    while replay.poll() is None:  # checked often, so the wall time is the replay's own
        now = time.monotonic() - started
        if now - sampled >= args.every and (memory := rss_mb(replay.pid)) is not None:
            sampled = now
            samples.append((now, stored(db), memory))
            print(f"{now:7.1f} s  {samples[-1][1]:>9,} events  {memory:7.0f} MB", flush=True)
        time.sleep(0.05)
    wall = time.monotonic() - started
    if replay.returncode:
        sys.exit(f"replay failed with exit code {replay.returncode}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the replay's own
    events = stored(db)
    print(f"replay of {events:,} events, {args.users:,} users, {args.days:g} days: "
          f"{wall:.1f} s ({events / wall:,.0f} events/s, whole process), peak RSS {peak:.0f} MB")
    fifths = []
    for part in range(1, 6):
        mark = args.events * part // 5
        at = next((s for s in samples if s[1] >= mark), samples[-1])
        fifths.append({"events": at[1], "rss_mb": round(at[2])})
    print("RSS at each fifth:", ", ".join(f"{f['events']:,}: {f['rss_mb']} MB" for f in fifths))
    print(json.dumps({"events": events, "users": args.users, "days": args.days,
                      "seconds": round(wall, 1), "events_per_s": round(events / wall),
                      "fifths": fifths, "peak_mb": round(peak)}))


if __name__ == "__main__":
    main()
