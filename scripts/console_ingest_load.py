"""Does a console following the stream slow the agent down? The real `ottwatch agent`
ingests a generated log into a big database (build one with
`scripts/console_bench.py --build`), alone (A) and while `ottwatch tui` runs in a
real terminal (tmux, 120x40) on the Live screen, following (B). Runs alternate
A, B, B, A, A, B, B, A... so that drift (a shared machine, the database and the
agent's saved state growing run after run) falls on both sides alike.

    python scripts/console_ingest_load.py --db /work/scratch/bench/ottwatch.db \\
        [--events 200000] [--pairs 2]

Each run gets its own log (fresh event ids: nothing is skipped as a duplicate, the
same users, event time going on from the newest stored event), written before the
run starts. The rate is read from the database (the newest
event id, polled every 0.2 s) over the middle 90% of the run, so the agent's
start-up is left out. Every run adds its events to the database. The config gives
the agent the fixture GeoIP databases (as `ottwatch bench` does) and keeps the
learning loop from retraining in the middle of a run.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from console_bench import TMUX, new_session, pinned  # the script's folder is on sys.path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
POLL_S = 0.2
TIMEOUT_S = 900.0
CONSOLE_SIZE = (120, 40)
USERS = 20_000
RATE = 2500.0  # events per second of event time: about the pace the agent stores them


@dataclass
class Run:
    mode: str  # "agent alone" or "with console"
    events: int
    seconds: float
    agent_cpu: float  # share of one core
    console_cpu: float | None

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def write_config(folder: Path) -> Path:
    config = folder / "ottwatch.toml"
    config.write_text(
        "[geo]\n"
        f'city_db = "{FIXTURES / "data" / "GeoLite2-City.mmdb"}"\n'
        f'anonymizer_lists = ["{FIXTURES / "anonymizers.txt"}"]\n'
        "[scoring.learning]\n"
        "retrain_new_labels = 100000000\n", encoding="utf-8")
    return config


def newest(db: Path, sql: str) -> float:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        return conn.execute(sql).fetchone()[0] or 0


def write_log(path: Path, events: int, run: int, start: str) -> None:
    """A generated stream starting after the newest stored event, its ids unique to
    this run (and to this invocation: a repeated id would be skipped, not stored)."""
    from fixtures.generator import StreamGenerator

    generator = StreamGenerator(seed=100 + run, users=USERS, start=start, rate_per_s=RATE)
    prefix = f'"event_id":"ld{uuid.uuid4().hex[:8]}-'.encode()
    with open(path, "wb") as out:
        for line in generator.lines(events):
            out.write(line.replace(b'"event_id":"', prefix, 1) + b"\n")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Console:
    """`ottwatch tui` in a detached tmux session of its own."""

    def __init__(self, db: Path, config: Path) -> None:
        self.session = f"ottwatch-load-{uuid.uuid4().hex[:8]}"
        command = (f"OTTWATCH_CONFIG={config} exec {pinned()}{sys.executable} -m ottwatch "
                   f"tui --db {db}")
        new_session(self.session, CONSOLE_SIZE, command)
        self.pid = int(subprocess.run(
            [*TMUX, "list-panes", "-t", self.session, "-F", "#{pane_pid}"],
            check=True, capture_output=True, text=True).stdout.split()[0])

    def screen(self) -> str:
        return subprocess.run([*TMUX, "capture-pane", "-p", "-t", self.session],
                              check=True, capture_output=True, text=True).stdout

    def close(self) -> None:
        subprocess.run([*TMUX, "send-keys", "-t", self.session, "q"], capture_output=True)
        time.sleep(1)
        subprocess.run([*TMUX, "kill-session", "-t", self.session], capture_output=True)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(POLL_S)


def ingest(db: Path, config: Path, log: Path, events: int) -> tuple[float, float]:
    """Start the agent on `log`; (seconds for the middle 90% of the events, its CPU
    share meanwhile)."""
    base = int(newest(db, "SELECT max(id) FROM events"))
    agent = subprocess.Popen([sys.executable, "-m", "ottwatch", "agent", "--config",
                              str(config), "--db", str(db), str(log)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    marks: dict[float, tuple[float, float]] = {}
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while len(marks) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the agent did not store the log in {TIMEOUT_S:.0f} s")
            stored = newest(db, "SELECT max(id) FROM events") - base
            for share in (0.05, 0.95):
                if share not in marks and stored >= share * events:
                    marks[share] = (time.perf_counter(), cpu_seconds(agent.pid))
            if agent.poll() is not None:
                raise RuntimeError(f"the agent exited with {agent.returncode}")
            time.sleep(POLL_S)
    finally:
        agent.terminate()
        agent.wait(120)
    (t0, cpu0), (t1, cpu1) = marks[0.05], marks[0.95]
    return t1 - t0, (cpu1 - cpu0) / (t1 - t0)


def one_run(db: Path, config: Path, log: Path, events: int, with_console: bool) -> Run:
    console = Console(db, config) if with_console else None
    try:
        if console is not None:
            wait_until(lambda: "following" in console.screen(), "the console's Live screen", 60)
            time.sleep(3)
            console_cpu0, started = cpu_seconds(console.pid), time.perf_counter()
        seconds, agent_cpu = ingest(db, config, log, events)
        console_cpu = None
        if console is not None:
            console_cpu = (cpu_seconds(console.pid) - console_cpu0) / \
                (time.perf_counter() - started)
            if "user-0" not in console.screen():  # the generated users, not the stored
                raise RuntimeError("the console did not show the new events")
    finally:
        if console is not None:
            console.close()
    return Run("with console" if with_console else "agent alone", int(0.9 * events),
               seconds, agent_cpu, console_cpu)


def start_time(db: Path) -> str:
    """Now, or just after the newest stored event if that is later."""
    ts = max(time.time(), newest(db, "SELECT max(ts) FROM events") + 1)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def with_console(run: int) -> bool:
    """A, B, B, A, A, B, B, A..."""
    return (run % 4) in (1, 2)


def report(runs: list[Run]) -> None:
    print(f"{'run':>3}  {'mode':<13} {'events/s':>9}  {'agent CPU':>9}  {'console CPU':>11}")
    for n, run in enumerate(runs, start=1):
        console = f"{run.console_cpu:.0%}" if run.console_cpu is not None else "-"
        print(f"{n:>3}  {run.mode:<13} {run.rate:>9,.0f}  {run.agent_cpu:>9.0%}  {console:>11}")
    alone = [r.rate for r in runs if r.console_cpu is None]
    followed = [r.rate for r in runs if r.console_cpu is not None]
    change = statistics.mean(followed) / statistics.mean(alone) - 1
    print(f"agent alone {statistics.mean(alone):,.0f} events/s, with the console following "
          f"{statistics.mean(followed):,.0f} events/s: {change:+.1%}")
    print(json.dumps({"alone_events_per_s": [round(r) for r in alone],
                      "with_console_events_per_s": [round(r) for r in followed],
                      "change": round(change, 4),
                      "runs": [vars(r) | {"rate": round(r.rate)} for r in runs]}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, type=Path)
    parser.add_argument("--events", type=int, default=200_000, help="events per run")
    parser.add_argument("--pairs", type=int, default=2, help="A, B pairs")
    args = parser.parse_args(argv)
    if not args.db.exists():
        raise SystemExit(f"{args.db}: no such database (build it with console_bench.py)")
    folder = Path(tempfile.mkdtemp(prefix="ottwatch-load-"))
    config = write_config(folder)
    runs = []
    for n in range(2 * args.pairs):
        log = folder / f"run{n}.jsonl"
        write_log(log, args.events, n, start_time(args.db))
        print(f"  run {n + 1} / {2 * args.pairs}: "
              f"{'with console' if with_console(n) else 'agent alone'}", file=sys.stderr)
        runs.append(one_run(args.db, config, log, args.events, with_console(n)))
        log.unlink()
    report(runs)


if __name__ == "__main__":
    main()
