"""Replay is deterministic: the same input and config give the same tables, down
to `ingested_at` and `received_at`, which replay takes from the event clock."""

from __future__ import annotations

import asyncio
import gzip
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.assembly import make_agent
from agent.sources.base import Chunk
from fixtures.generator import generate
from ottwatch.clock import EventClock
from ottwatch.config import Config
from storage import open_database

TABLES = ("events", "assessments", "quarantine", "alerts")


def dump_tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()  # noqa: S608
                for table in TABLES}
    finally:
        conn.close()


def test_two_replays_give_identical_tables(
        tmp_path: Path, ottwatch: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    lines = list(generate(24_000, seed=41, users=300, bad_ratio=0.02))
    plain, packed = tmp_path / "day1.jsonl", tmp_path / "day2.jsonl.gz"
    plain.write_bytes(b"".join(line + b"\n" for line in lines[:15_000]))
    with gzip.open(packed, "wb") as out:
        out.write(b"".join(line + b"\n" for line in lines[15_000:]))
    config = tmp_path / "ottwatch.toml"
    config.write_text("", encoding="utf-8")

    dumps = []
    for run in ("a", "b"):
        db = tmp_path / f"replay-{run}.db"
        done = ottwatch("replay", str(plain), str(packed), "--db", str(db), "--config",
                        str(config), "--quiet")
        assert done.returncode == 0, done.stderr
        dumps.append(dump_tables(db))
    first, second = dumps
    assert first["events"], "the replay stored events"
    assert first["quarantine"], "the generated bad lines were quarantined"
    for table in TABLES:
        assert first[table] == second[table], f"{table} differs between two replays"


def chunked(lines: list[bytes], size: int, *, resend: int = 0) -> list[Chunk]:
    """Chunks of `size` lines at their file offsets; each after the first also carries
    the `resend` lines before it again (a producer that retries)."""
    chunks, offset = [], 0
    for start in range(0, len(lines), size):
        chunk = Chunk("file:/recorded.jsonl", [])
        for line in lines[start:start + size] + lines[max(0, start - resend):start]:
            chunk.lines.append((offset, line))
            offset += len(line) + 1
        chunks.append(chunk)
    return chunks


class PacedSource:
    """Hands over fixed chunks, pausing between them: the same input at another pace."""

    def __init__(self, chunks: list[Chunk], pause: float) -> None:
        self.name = "paced"
        self.chunks = chunks
        self.pause = pause

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        for index, chunk in enumerate(self.chunks):
            if index and self.pause:
                await asyncio.sleep(self.pause)
            await queue.put(Chunk(chunk.source, list(chunk.lines)))


def test_replay_does_not_depend_on_how_fast_the_input_arrives(tmp_path: Path) -> None:
    chunks = chunked(list(generate(900, seed=43, users=50)), 300)

    def replay(pause: float, db: Path) -> dict[str, list[tuple[Any, ...]]]:
        config = Config()
        config.storage.url = f"sqlite:///{db}"
        engine = open_database(config.storage.url)
        agent = make_agent(config, engine, [PacedSource(chunks, pause)], EventClock(),
                           checkpoint=False)
        asyncio.run(agent.run())
        engine.dispose()
        return dump_tables(db)

    at_once = replay(0.0, tmp_path / "at-once.db")
    paced = replay(0.5, tmp_path / "paced.db")
    assert len(at_once["events"]) == len(paced["events"]) == 900
    assert at_once["events"] == paced["events"]


def test_commits_in_line_or_on_a_writer_thread_store_the_same(tmp_path: Path) -> None:
    """SQLite commits in line, PostgreSQL on a writer thread that overlaps the next
    batch: both paths store the same rows, and a line sent twice (in the batch after,
    while the first may still be committing) is stored once."""
    lines = list(generate(1500, seed=47, users=80))
    chunks = chunked(lines, 250, resend=20)

    def replay(overlap: bool, db: Path) -> dict[str, list[tuple[Any, ...]]]:
        config = Config()
        config.storage.url = f"sqlite:///{db}"
        config.storage.batch_size = 250
        engine = open_database(config.storage.url)
        agent = make_agent(config, engine, [PacedSource(chunks, 0.0)], EventClock(),
                           checkpoint=False, overlap_commits=overlap)
        stats = asyncio.run(agent.run())
        engine.dispose()
        assert stats.duplicates == 20 * (len(chunks) - 1)
        return dump_tables(db)

    in_line = replay(False, tmp_path / "in-line.db")
    threaded = replay(True, tmp_path / "threaded.db")
    assert len(in_line["events"]) == len(in_line["assessments"]) == len(lines)
    for table in TABLES:
        assert in_line[table] == threaded[table], f"{table} differs"
