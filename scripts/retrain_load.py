"""Ingest rate of the real agent before, during and after a retrain it runs itself.

A seeded stream is split in two: the first part is replayed into a fresh database
(so the learning stage holds a training sample) and models are trained on it; then
`ottwatch agent` tails the second part with those models loaded, and, once it is
ingesting steadily, `ottwatch retrain all --via-agent` asks it to retrain on its
live sample, after an analyst has labelled some of the live events (the training
window is the newest events, so labels on the warm-up alone may have left it). The
events table is polled from outside to tell the rate per phase.

    python scripts/retrain_load.py [--warm 100000] [--live 400000] [--users 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from fixtures.generator import generate
from ottwatch.commands.bench import label_top_scored
from storage.engine import make_engine

POLL_S = 0.25


def ottwatch(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ottwatch", *args], check=True,
                          capture_output=True, text=True, **options)  # type: ignore[call-overload]


def write_stream(folder: Path, warm: int, live: int, users: int) -> tuple[Path, Path]:
    lines = generate(warm + live, users=users, seed=11, rate_per_s=200.0)
    warm_log, live_log = folder / "warm.jsonl", folder / "live.jsonl"
    with open(warm_log, "wb") as out:
        out.writelines(next(lines) + b"\n" for _ in range(warm))
    with open(live_log, "wb") as out:
        out.writelines(line + b"\n" for line in lines)
    return warm_log, live_log


def stored(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]


def rate(samples: list[tuple[float, int]], start: float, end: float) -> float | None:
    inside = [(t, n) for t, n in samples if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=400_000)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ottwatch-retrain-"))
    db = folder / "ottwatch.db"
    warm_log, live_log = write_stream(folder, args.warm, args.live, args.users)
    config = folder / "ottwatch.toml"  # the defaults, whatever the machine's config says
    config.write_text("", encoding="utf-8")
    env = {**os.environ, "OTTWATCH_CONFIG": str(config)}
    ottwatch("replay", str(warm_log), "--db", str(db), env=env)
    engine = make_engine(f"sqlite:///{db}")
    label_top_scored(engine)
    engine.dispose()
    first = json.loads(ottwatch("retrain", "all", "--db", str(db), "--json", env=env).stdout)
    print("models before the run:", {r["name"]: (r["status"], r["version"]) for r in first})
    warm_count = stored(db)

    agent = subprocess.Popen([sys.executable, "-m", "ottwatch", "agent", str(live_log),
                              "--db", str(db)], env=env, stderr=subprocess.DEVNULL)
    samples: list[tuple[float, int]] = []
    retrain: dict[str, object] = {}

    def run_retrain() -> None:
        retrain["start"] = time.monotonic()
        done = ottwatch("retrain", "all", "--via-agent", "--db", str(db), "--json", env=env)
        retrain["end"] = time.monotonic()
        retrain["result"] = json.loads(done.stdout)

    worker = threading.Thread(target=run_retrain)
    try:
        while True:
            now, count = time.monotonic(), stored(db)
            samples.append((now, count))
            steady = [t for t, n in samples if n > warm_count + 20_000]
            if "start" not in retrain and steady and now - steady[0] > 5:
                labels = make_engine(f"sqlite:///{db}")
                label_top_scored(labels, after_id=warm_count)
                labels.dispose()
                worker.start()
            if count >= warm_count + args.live or (
                    "end" in retrain and now - float(retrain["end"]) > 5):  # type: ignore[arg-type]
                break
            time.sleep(POLL_S)
    finally:
        agent.terminate()
        agent.wait(60)
        if worker.is_alive():
            worker.join()
    if "end" not in retrain:
        sys.exit("the stream ended before the retrain finished: use a longer --live")
    start, end = float(retrain["start"]), float(retrain["end"])  # type: ignore[arg-type]
    began = next(t for t, n in samples if n > warm_count)
    before = rate(samples, began + 1, start)
    during = rate(samples, start, end)
    after = rate(samples, end, samples[-1][0])
    results = retrain["result"]
    print(f"retrain via the agent: {end - start:.1f} s, "
          + ", ".join(f"{r['name']} {r['status']} ({r['samples']:,} samples, fit "
                      f"{r['seconds']:.1f} s)" for r in results))  # type: ignore[attr-defined]
    for phase, value in (("before", before), ("during", during), ("after", after)):
        print(f"ingest {phase:>6} the retrain: "
              + ("n/a" if value is None else f"{value:,.0f} events/s"))
    print(json.dumps({"retrain_s": round(end - start, 2), "before": before, "during": during,
                      "after": after, "results": results}, default=str))


if __name__ == "__main__":
    main()
