"""Crash-and-rotation soak: the real `ottwatch agent` tails a log that is rotated by
logrotate's three styles (rename+create, rename+gzip, copytruncate), while the
agent is SIGKILLed at random moments (between a rotation's steps too) and the log
is rotated again while it is down. At the end every line's id must be stored
exactly once: events by event id, and 1 line in `--bad-every` written to be
quarantined (the events table skips a re-read event silently; a re-read bad line
is a second quarantine row, so duplicates show).

    python -m tests.soak.rotation_soak --events 200000 --seed 1

The writer never writes during a copytruncate: lines written between logrotate's
copy and its truncate are lost to any tailer (logrotate's manual says so), so the
application is paused for it, as with a copytruncate of a paused application.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from fixtures.generator import generate
from tests.conftest import AgentProcess, agent_env

NAME = "app.jsonl"
STYLES = ("rename+create", "rename+gzip", "copytruncate")
BAD_ID = re.compile(rb'"event_id": "(soak-bad-\d+)"')
SETTLE_S = 120.0  # at the end: how long the agent may go without storing anything


@dataclass
class Figures:
    events: int = 0
    bad_lines: int = 0
    kills: int = 0
    kills_mid_rotation: int = 0
    restarts: int = 0
    rotations: Counter[str] = field(default_factory=Counter)
    rotations_while_stopped: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.unexpected == 0

    def report(self) -> str:
        rotations = ", ".join(f"{style} {self.rotations[style]}" for style in STYLES)
        decisions = ", ".join(f"{k} {v}" for k, v in sorted(self.decisions.items()))
        return "\n".join([
            f"lines written      {self.events + self.bad_lines:,} "
            f"({self.events:,} events, {self.bad_lines:,} to quarantine)",
            f"kill -9            {self.kills} ({self.kills_mid_rotation} between a rotation's "
            f"steps), restarts {self.restarts}",
            f"rotations          {sum(self.rotations.values())}: {rotations}; "
            f"{self.rotations_while_stopped} while the agent was down",
            f"resume decisions   {decisions or 'none'}",
            f"lost               {self.lost}",
            f"duplicated         {self.duplicated}",
            f"unexpected         {self.unexpected}",
            f"duration           {self.seconds:.0f} s",
        ])


class Journal:
    """What the soak did, when, in the work directory: to read beside the agents' logs."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def __call__(self, what: str) -> None:
        self.handle.write(f"{time.strftime('%H:%M:%S')}.{time.time() % 1 * 1000:03.0f} {what}\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


class Application:
    """Writes unique lines through an O_APPEND handle it reopens after a rename,
    sometimes in two writes split mid-line."""

    def __init__(self, log: Path, total: int, seed: int, bad_every: int) -> None:
        self.log = log
        self.total = total
        self.bad_every = bad_every
        self.rng = random.Random(seed)
        self._lines: Iterator[bytes] = generate(total, seed=seed, users=2000)
        self.events: list[str] = []
        self.bad: list[str] = []
        self.fd = self.reopen()

    def reopen(self) -> int:
        self.fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self.fd

    @property
    def done(self) -> bool:
        return len(self.events) >= self.total

    def write(self, count: int) -> None:
        batch = []
        for _ in range(min(count, self.total - len(self.events))):
            if self.rng.randrange(self.bad_every) == 0:
                self.bad.append(f"soak-bad-{len(self.bad)}")
                batch.append(b'{"event_id": "%s", "timestamp": "yesterday", "user_id": "u", '
                             b'"event_type": "play"}' % self.bad[-1].encode())
            line = next(self._lines)
            self.events.append(orjson.loads(line)["event_id"])
            batch.append(line)
        data = b"".join(line + b"\n" for line in batch)
        if len(data) > 2 and self.rng.random() < 0.3:
            cut = self.rng.randrange(1, len(data) - 1)
            os.write(self.fd, data[:cut])
            time.sleep(self.rng.random() * 0.05)
            data = data[cut:]
        os.write(self.fd, data)


class Rotator:
    """logrotate's styles as lists of steps (numbered generations, all kept), so that
    a kill can fall between any two."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.log = app.log

    def steps(self, style: str) -> list[Callable[[], None]]:
        rotated = self.log.with_name(f"{NAME}.1")
        if style == "copytruncate":
            return [self._shift, lambda: shutil.copyfile(self.log, rotated),
                    lambda: os.truncate(self.log, 0)]
        renamed = [self._shift, lambda: self.log.rename(rotated), self._create]
        if style == "rename+create":
            return renamed
        packing: list[gzip.GzipFile] = []
        return renamed + [lambda: self._gzip_begin(rotated, packing),
                          lambda: self._gzip_end(rotated, packing), rotated.unlink]

    def _create(self) -> None:
        os.close(self.app.fd)
        self.app.reopen()

    def _shift(self) -> None:
        """app.jsonl.N[.gz] -> app.jsonl.N+1[.gz], highest first."""
        numbered = re.compile(re.escape(NAME) + r"\.(\d+)(\.gz)?")
        found = [(int(m.group(1)), m.group(2) or "", p) for p in self.log.parent.iterdir()
                 if (m := numbered.fullmatch(p.name))]
        for number, suffix, path in sorted(found, reverse=True):
            path.rename(self.log.with_name(f"{NAME}.{number + 1}{suffix}"))

    @staticmethod
    def _gzip_begin(plain: Path, packing: list[gzip.GzipFile]) -> None:
        """Compress the first half: a partial .gz beside its original, as mid-gzip."""
        target = gzip.open(plain.with_name(plain.name + ".gz"), "wb")
        with open(plain, "rb") as source:
            target.write(source.read(plain.stat().st_size // 2))
            target.flush()
        packing.append(target)

    @staticmethod
    def _gzip_end(plain: Path, packing: list[gzip.GzipFile]) -> None:
        target = packing.pop()
        with open(plain, "rb") as source:
            source.seek(target.tell())
            shutil.copyfileobj(source, target)
        target.close()
        st = plain.stat()  # gzip keeps the original's times
        os.utime(plain.with_name(plain.name + ".gz"), ns=(st.st_atime_ns, st.st_mtime_ns))


class Agents:
    """The agent under test: started, SIGKILLed, restarted."""

    def __init__(self, workdir: Path, log: Path, db: Path, figures: Figures) -> None:
        self.workdir, self.log, self.db, self.figures = workdir, log, db, figures
        self.config = workdir / "config.toml"
        self.config.write_text("", encoding="utf-8")
        self.current: AgentProcess | None = None
        self.started: list[AgentProcess] = []

    @property
    def running(self) -> bool:
        return self.current is not None

    def start(self, *, wait: bool = True) -> None:
        """With `wait`, return once the agent is up (imports done, database open), so
        that the next kill hits it at work rather than starting."""
        process = AgentProcess([str(self.log), "--db", str(self.db), "--log-level", "info"],
                               workdir=self.workdir, env=agent_env(config=self.config),
                               label=f"agent-{len(self.started) + 1}")
        self.started.append(process)
        self.current = process
        self.figures.restarts += len(self.started) > 1
        if wait:
            process.wait_for_log("agent ready")

    def kill(self) -> None:
        assert self.current is not None
        self.current.assert_alive()
        self.current.kill()
        self.current = None
        self.figures.kills += 1

    def stop(self) -> None:
        if self.current is not None:
            self.current.wait_for_log("agent ready")  # SIGTERM before then is not handled
            code = self.current.stop()
            assert code == 0, f"agent exited {code}:\n{self.current.stderr()[-3000:]}"
            self.current = None

    def decisions(self) -> Counter[str]:
        seen: Counter[str] = Counter()
        for process in self.started:
            for line in process.stderr().splitlines():
                for what in ("resumed at offset", "rotated while stopped",
                             "replaced while stopped", "truncated (copytruncate)",
                             "rotated (rename)", "was rotated away before it was read",
                             "truncated before it was read"):
                    seen[what] += what in line
        return +seen

    def kill_all(self) -> None:
        for process in self.started:
            if process.alive():
                process.proc.kill()
                process.proc.wait()


def stored(db: Path) -> tuple[list[str], list[bytes]]:
    if not db.exists():
        return [], []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        events = [r[0] for r in conn.execute("SELECT event_id FROM events")]
        raws = [r[0] for r in conn.execute("SELECT raw FROM quarantine")]
    except sqlite3.OperationalError:
        return [], []
    finally:
        conn.close()
    return events, raws


def settle(db: Path, expected: int, agents: Agents) -> None:
    """Wait until everything written is stored, or nothing more arrives for SETTLE_S."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < SETTLE_S:
        if agents.current is not None:
            agents.current.assert_alive()
        events, raws = stored(db)
        count = len(events) + len(raws)
        if count >= expected:
            return
        if count != last:
            last, since = count, time.monotonic()
        time.sleep(0.5)


def check(db: Path, app: Application, figures: Figures) -> None:
    events, raws = stored(db)
    bad = [m.group(1).decode() for raw in raws if (m := BAD_ID.search(raw))]
    figures.unexpected = len(raws) - len(bad)
    counts = Counter(events) + Counter(bad)
    expected = set(app.events) | set(app.bad)
    figures.lost = len(expected - counts.keys())
    figures.duplicated = sum(n - 1 for n in counts.values() if n > 1)
    figures.unexpected += len(counts.keys() - expected)


def soak(events: int, seed: int, workdir: Path, *, bad_every: int = 50,
         batch: int = 600, rotate_p: float = 0.3, kill_p: float = 0.15,
         kill_in_rotation_p: float = 0.1, pause_s: float = 0.3) -> Figures:
    """Write `events` lines in random batches; after each, maybe rotate (maybe killing
    the agent between steps), maybe kill the agent and rotate while it is down."""
    rng = random.Random(seed)
    figures = Figures()
    log = workdir / "logs" / NAME
    log.parent.mkdir(parents=True, exist_ok=True)
    db = workdir / "agent.db"
    app = Application(log, events, seed, bad_every)
    journal = Journal(workdir / "journal.log")
    rotator = Rotator(app)
    agents = Agents(workdir, log, db, figures)
    started = time.monotonic()
    try:
        app.write(batch)
        agents.start()
        settle(db, len(app.events) + len(app.bad), agents)  # a first checkpoint
        while not app.done:
            app.write(rng.randint(1, 2 * batch))
            journal(f"wrote, {len(app.events)} events so far")
            time.sleep(rng.random() * pause_s)
            if rng.random() < rotate_p:
                rotate(rng, rotator, agents, figures, kill_in_rotation_p, journal)
            if agents.running and rng.random() < kill_p:
                agents.kill()
                journal(f"kill -9 agent-{len(agents.started)}")
                for _ in range(rng.randint(0, 3)):  # while the agent is down
                    app.write(rng.randint(1, batch))
                    journal(f"wrote while down, {len(app.events)} events so far")
                    if rng.random() < 0.7:
                        rotate(rng, rotator, agents, figures, 0.0, journal)
            if not agents.running:
                agents.start(wait=rng.random() < 0.8)
                journal(f"started agent-{len(agents.started)}")
        figures.events, figures.bad_lines = len(app.events), len(app.bad)
        settle(db, len(app.events) + len(app.bad), agents)
        agents.stop()
        check(db, app, figures)
        figures.decisions = agents.decisions()
    finally:
        agents.kill_all()
        os.close(app.fd)
        journal.close()
    figures.seconds = time.monotonic() - started
    return figures


def rotate(rng: random.Random, rotator: Rotator, agents: Agents, figures: Figures,
           kill_between_p: float, journal: Journal) -> None:
    style = rng.choice(STYLES)
    journal(f"rotate: {style}{'' if agents.running else ' (agent down)'}")
    figures.rotations[style] += 1
    figures.rotations_while_stopped += not agents.running
    for step in rotator.steps(style):
        if agents.running and rng.random() < kill_between_p:
            agents.kill()
            figures.kills_mid_rotation += 1
            journal(f"kill -9 agent-{len(agents.started)} mid-rotation")
        elif not agents.running and rng.random() < kill_between_p:
            agents.start(wait=False)  # and it starts mid-rotation
            journal(f"started agent-{len(agents.started)} mid-rotation")
        step()
        journal(f"  step {getattr(step, '__name__', 'step')} done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep the logs and database here")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        figures = soak(args.events, args.seed, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="ottwatch-soak-") as tmp:
            figures = soak(args.events, args.seed, Path(tmp))
    print(figures.report())
    return 0 if figures.clean else 1


if __name__ == "__main__":
    sys.exit(main())
