"""Every logrotate style done while the agent is stopped, the new file refilled past the
old checkpoint with a line ending exactly there (so that offset, size and line start
all look right): the checkpoint's fingerprint tells, and nothing is lost or re-read."""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_rotation import LineWriter, caught_up

Tailed = tuple[Path, Any, Callable[..., Any]]
ROOM = 1500  # refill with plain lines until this close to the old offset, then pad one


class Writer(LineWriter):
    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.bad = 0

    def write_bad(self, fd: int) -> None:
        """A line the agent quarantines: stored twice if it is ever read twice."""
        self.bad += 1
        os.write(fd, b'{"event_id": "bad-%d", "timestamp": "yesterday", "user_id": "u", '
                     b'"event_type": "play"}\n' % self.bad)

    def refill_to(self, fd: int, path: Path, offset: int) -> None:
        """Write whole lines until one ends exactly at `offset` (padded with JSON spaces)."""
        while offset - path.stat().st_size > ROOM:
            self.write(fd, 1)
        line = next(self._lines)
        gap = offset - path.stat().st_size - 1
        assert len(line) <= gap, "a generated line longer than the room left"
        os.write(fd, b"{" + b" " * (gap - len(line)) + line[1:] + b"\n")
        self.written.append(orjson.loads(line)["event_id"])
        assert path.stat().st_size == offset


@pytest.fixture
def stopped(tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> Tailed:
    """The log path, its database, and a function that starts an agent on them."""
    log = tmp_path / "logs" / "app.jsonl"
    log.parent.mkdir()
    db = open_db(tmp_path / "agent.db")

    def start() -> Any:
        return agent_process(str(log), "--db", str(db.path), "--log-level", "info")

    return log, db, start


def gzip_away(plain: Path, packed: Path) -> None:
    """What logrotate's compress does: gzip (keeping the mtime), then delete the original."""
    with open(plain, "rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    stat = plain.stat()
    os.utime(packed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    plain.unlink()


def read_first_part(stopped: Tailed, writer: Writer, lines: int) -> tuple[int, int]:
    """Write `lines` and a bad one, let an agent store them, stop it; the checkpoint."""
    log, db, start = stopped
    fd = writer.open(log)
    writer.write(fd, lines // 2)
    writer.write_bad(fd)
    writer.write(fd, lines - lines // 2)
    os.close(fd)
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, lines), what="the first lines")
    assert agent.stop() == 0
    checkpoint = db.checkpoint(log)
    assert checkpoint == (log.stat().st_ino, log.stat().st_size)
    return checkpoint


def resume_and_check(stopped: Tailed, writer: Writer, expect_log: str) -> str:
    log, db, start = stopped
    agent = start()
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)),
                   what="the rotated rest and the new file")
    fd = writer.open(log)
    writer.write(fd, 200)
    os.close(fd)
    agent.wait_for(lambda: caught_up(db, log, len(writer.written)), what="later lines")
    assert agent.stop() == 0
    db.assert_stored_once(writer.written)
    assert db.count("quarantine") == writer.bad, "a quarantined line was read twice"
    order = [r[0] for r in db.rows("SELECT event_id FROM events ORDER BY id")]
    assert order == writer.written, "the old file's rest is stored before the new file"
    stderr = agent.stderr()
    decisions = [line for line in stderr.splitlines() if expect_log in line]
    assert decisions, f"no {expect_log!r} in the agent's log:\n{stderr[-3000:]}"
    return decisions[0]


@pytest.mark.parametrize("compress", [False, True], ids=["copy", "copy-then-gzip"])
def test_copytruncate_while_stopped_refilled_past_the_offset(stopped: Tailed,
                                                             compress: bool) -> None:
    log, db, _start = stopped
    writer = Writer(seed=11)
    _inode, offset = read_first_part(stopped, writer, 1500)
    fd = writer.open(log)
    writer.write(fd, 1100)  # never read: only the copy will have them
    copy = log.with_name("app.jsonl.1")
    shutil.copyfile(log, copy)
    os.truncate(log, 0)
    if compress:
        gzip_away(copy, log.with_name("app.jsonl.1.gz"))
    writer.refill_to(fd, log, offset)
    writer.write(fd, 300)
    os.close(fd)
    decision = resume_and_check(stopped, writer, "replaced while stopped")
    name = "app.jsonl.1.gz" if compress else "app.jsonl.1"
    assert "WARNING" in decision
    assert f"finished {name} from offset {offset}, then app.jsonl from 0" in decision


def test_rename_and_create_while_stopped_refilled_past_the_offset(stopped: Tailed) -> None:
    log, _db, _start = stopped
    writer = Writer(seed=12)
    _inode, offset = read_first_part(stopped, writer, 1500)
    old = writer.open(log)
    writer.write(old, 1000)
    os.close(old)
    log.rename(log.with_name("app.jsonl.1"))
    new = writer.open(log)
    writer.refill_to(new, log, offset)
    writer.write(new, 300)
    os.close(new)
    decision = resume_and_check(stopped, writer, "rotated while stopped")
    assert f"finished app.jsonl.1 from offset {offset}, then app.jsonl from 0" in decision


@pytest.mark.parametrize("rotated_name", ["app.jsonl.1.gz", "app.jsonl-20261204.gz"],
                         ids=["numbered", "dateext"])
def test_rename_and_gzip_while_stopped(stopped: Tailed, rotated_name: str) -> None:
    log, _db, _start = stopped
    writer = Writer(seed=13)
    _inode, offset = read_first_part(stopped, writer, 500)
    old = writer.open(log)
    writer.write(old, 1000)
    os.close(old)
    plain = log.with_name(rotated_name.removesuffix(".gz"))
    log.rename(plain)
    new = writer.open(log)
    gzip_away(plain, log.with_name(rotated_name))
    writer.write(new, 1500)
    os.close(new)
    decision = resume_and_check(stopped, writer, "replaced while stopped")
    assert f"finished {rotated_name} from offset {offset}, then app.jsonl from 0" in decision


def test_rename_and_gzip_while_stopped_with_the_inode_reused(stopped: Tailed) -> None:
    """ext4 hands the freed inode of the gzipped file to the new log: the checkpoint's
    inode is set to the new file's, which is refilled to a line end at the old offset."""
    log, db, _start = stopped
    writer = Writer(seed=14)
    _inode, offset = read_first_part(stopped, writer, 1500)
    old = writer.open(log)
    writer.write(old, 1000)
    os.close(old)
    log.rename(log.with_name("app.jsonl.1"))
    gzip_away(log.with_name("app.jsonl.1"), log.with_name("app.jsonl.1.gz"))
    new = writer.open(log)
    writer.refill_to(new, log, offset)
    writer.write(new, 300)
    os.close(new)
    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE checkpoints SET inode = ?", (log.stat().st_ino,))
    decision = resume_and_check(stopped, writer, "replaced while stopped")
    assert f"finished app.jsonl.1.gz from offset {offset}, then app.jsonl from 0" in decision


def test_truncate_then_refill_past_the_offset_reads_the_new_content_whole(
        stopped: Tailed) -> None:
    log, _db, _start = stopped
    writer = Writer(seed=15)
    _inode, offset = read_first_part(stopped, writer, 1500)
    fd = writer.open(log)
    os.truncate(log, 0)  # no copy kept: the old lines were all read already
    writer.refill_to(fd, log, offset)
    writer.write(fd, 300)
    os.close(fd)
    decision = resume_and_check(stopped, writer, "replaced while stopped")
    assert "WARNING" in decision
    assert f"no rotated file holds what was read up to offset {offset}" in decision


def test_a_checkpoint_without_fingerprint_resumes_by_inode_and_offset(stopped: Tailed) -> None:
    """A checkpoint written before schema 3: resumed as before, and said so."""
    log, db, _start = stopped
    writer = Writer(seed=16)
    read_first_part(stopped, writer, 1000)
    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE checkpoints SET fingerprint = NULL")
    fd = writer.open(log)
    writer.write(fd, 500)
    os.close(fd)
    decision = resume_and_check(stopped, writer, "checkpoint without a fingerprint")
    assert "resumed at offset" in decision


def test_an_unchanged_file_resumes_with_its_content_checked(stopped: Tailed) -> None:
    log, _db, _start = stopped
    writer = Writer(seed=17)
    _inode, offset = read_first_part(stopped, writer, 1000)
    fd = writer.open(log)
    writer.write(fd, 500)
    os.close(fd)
    decision = resume_and_check(stopped, writer, "resumed at offset")
    assert "INFO" in decision and f"resumed at offset {offset} (content checked)" in decision
