"""The parts of content-checked resume on their own, on real files: fingerprints (plain,
compressed, streamed), the order of rotated generations, the resume decision (with
the inode identity faked: reuse cannot be forced on a real filesystem), and the
checkpoint's migration."""

from __future__ import annotations

import bz2
import gzip
import os
import random
import sqlite3
from pathlib import Path

import pytest

from agent.sources import fingerprint
from agent.sources.fingerprint import SPAN, StreamWindow
from agent.sources.resume import plan_legacy, plan_resume
from agent.sources.rotation import generations, holds
from ottwatch.vocabulary import SourcePosition
from storage import open_database
from storage.migrations import current_version
from storage.tables import SCHEMA_VERSION
from storage.writer import BatchWriter

NAME = "app.jsonl"


def lines(seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(b'{"event_id": "e-%d-%d", "pad": "%s"}\n'
                    % (seed, i, b"x" * rng.randrange(10, 300)) for i in range(count))


def write(path: Path, data: bytes, mtime_s: int | None = None) -> Path:
    path.write_bytes(data)
    if mtime_s is not None:
        os.utime(path, (mtime_s, mtime_s))
    return path


def fp_of(path: Path, offset: int) -> bytes | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return fingerprint.of_fd(fd, offset)
    finally:
        os.close(fd)


OFFSETS = [1, 100, SPAN - 1, SPAN, SPAN + 1, 3 * SPAN + 17, 20_000]


@pytest.mark.parametrize("offset", OFFSETS)
def test_plain_and_compressed_copies_fingerprint_alike(tmp_path: Path, offset: int) -> None:
    data = lines(1, 200)
    plain = write(tmp_path / NAME, data)
    (tmp_path / f"{NAME}.1.gz").write_bytes(gzip.compress(data))
    (tmp_path / f"{NAME}.2.bz2").write_bytes(bz2.compress(data))
    expected = fp_of(plain, offset)
    assert expected is not None
    for name in (f"{NAME}.1.gz", f"{NAME}.2.bz2"):
        with gzip.open(tmp_path / name) if name.endswith(".gz") else bz2.open(
                tmp_path / name) as stream:
            assert fingerprint.of_stream(stream, offset) == expected


def test_a_fingerprint_tells_content_not_length(tmp_path: Path) -> None:
    old, new = lines(1, 200), lines(2, 200)
    offset = 10_000
    assert fp_of(write(tmp_path / "a", old), offset) != fp_of(write(tmp_path / "b", new), offset)
    same_head = old[:5000] + new[5000:]
    fp_old, fp_mixed = fp_of(tmp_path / "a", offset), fp_of(write(tmp_path / "c", same_head),
                                                              offset)
    assert fp_old and fp_mixed and fp_old[:16] == fp_mixed[:16] and fp_old != fp_mixed
    assert fp_of(tmp_path / "a", len(old) + 1) is None, "shorter than the offset"


def test_a_stream_window_fingerprints_like_pread(tmp_path: Path) -> None:
    data = lines(3, 400)
    path = write(tmp_path / NAME, data)
    rng = random.Random(3)
    for start in (0, 50, SPAN + 3, 30_000):
        with open(path, "rb", buffering=0) as stream:
            window = StreamWindow.at(stream, start, keep=SPAN + 2048)
            position = start
            while position < len(data):
                piece = stream.read(rng.randrange(1, 2048))
                window.feed(piece)
                position += len(piece)
                behind = position - rng.randrange(0, min(2048, position - start) + 1)
                assert window.fingerprint(behind) == fp_of(path, behind), (start, behind)
            assert window.fingerprint(position - SPAN - 2049) is None, "beyond what it keeps"


def test_generations_oldest_first_and_compression_in_progress_left_out(tmp_path: Path) -> None:
    for name, mtime in ((f"{NAME}.3.gz", 300), (f"{NAME}.2", 100), (f"{NAME}.1.gz", 200),
                        (f"{NAME}.1", 200), (f"{NAME}.0", 50), (f"{NAME}.zst", 1),
                        (f"{NAME}.bak", 1), (NAME, 400), ("other.jsonl.1", 1)):
        write(tmp_path / name, b"x\n", mtime)
    found = [g.path.name for g in generations(tmp_path / NAME)]
    assert found == [f"{NAME}.3.gz", f"{NAME}.2", f"{NAME}.1", f"{NAME}.0"], (
        "by number, whatever the times; .1.gz is being compressed from .1")


def test_dated_generations_go_by_modification_time(tmp_path: Path) -> None:
    for name, mtime in ((f"{NAME}-20261203.gz", 200), (f"{NAME}-20261201", 100),
                        (f"{NAME}-20261204", 300)):
        write(tmp_path / name, b"x\n", mtime)
    assert [g.path.name for g in generations(tmp_path / NAME)] == [
        f"{NAME}-20261201", f"{NAME}-20261203.gz", f"{NAME}-20261204"]


def refill_with_line_end_at(path: Path, offset: int, seed: int) -> None:
    """New content with a line ending exactly at `offset`, then more lines."""
    body = lines(seed, 400)
    cut = body.rfind(b"\n", 0, offset - 40) + 1
    filler = b"{" + b" " * (offset - cut - 3) + b"}"
    path.write_bytes(body[:cut] + filler + b"\n" + lines(seed + 1, 50))
    assert path.read_bytes()[offset - 1 : offset] == b"\n"


def checkpoint_of(path: Path, offset: int, inode: int) -> SourcePosition:
    return SourcePosition(f"file:{path}", inode, offset, fp_of(path, offset))


def test_inode_reused_by_the_new_file_after_rename_and_gzip(tmp_path: Path) -> None:
    """The old file was read to `offset`, renamed, gzipped, deleted; the new file got its
    inode (faked: the checkpoint is given the new file's inode) and a line end at the
    old offset. Inode and offset alone would resume the new file there."""
    live = tmp_path / NAME
    old = lines(1, 300)
    offset = old.rfind(b"\n", 0, 40_000) + 1
    write(live, old)
    position = checkpoint_of(live, offset, inode=0)
    live.unlink()
    (tmp_path / f"{NAME}.1.gz").write_bytes(gzip.compress(old))
    refill_with_line_end_at(live, offset, seed=7)
    fd = os.open(live, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        reused = SourcePosition(position.source, st.st_ino, offset, position.fingerprint)
        found = generations(live)
        assert plan_legacy(live, fd, st, reused, found).live_offset == offset, (
            "the defect: the old checks trust the offset")
        plan = plan_resume(live, fd, st, reused, found)
    finally:
        os.close(fd)
    assert plan.live_offset == 0
    assert [(g.path.name, start) for g, start in plan.backlog] == [(f"{NAME}.1.gz", offset)]
    assert plan.describe(live).endswith(
        f"replaced while stopped: finished {NAME}.1.gz from offset {offset}, then {NAME} from 0")


def test_the_identity_check_is_what_decides(tmp_path: Path) -> None:
    """With the live check faked to fail, the holder is found among the generations
    (newest first), and later generations are read whole."""
    live = write(tmp_path / NAME, lines(9, 10))
    data = lines(1, 100)
    write(tmp_path / f"{NAME}.3", data, 100)
    write(tmp_path / f"{NAME}.2", data, 200)  # the same bytes twice: the newer one counts
    write(tmp_path / f"{NAME}.1", lines(2, 10), 300)
    position = checkpoint_of(tmp_path / f"{NAME}.3", 5000, inode=1)
    fd = os.open(live, os.O_RDONLY)
    try:
        plan = plan_resume(live, fd, os.fstat(fd), position, generations(live),
                           live_check=lambda *_: False)
        trusting = plan_resume(live, fd, os.fstat(fd), position, generations(live),
                               live_check=lambda *_: True)
    finally:
        os.close(fd)
    assert [(g.path.name, start) for g, start in plan.backlog] == [
        (f"{NAME}.2", 5000), (f"{NAME}.1", 0)]
    assert trusting.live_offset == 5000 and trusting.backlog == []


def test_a_checkpoint_at_offset_0_goes_by_inode(tmp_path: Path) -> None:
    live = write(tmp_path / NAME, lines(1, 10))
    rotated = write(tmp_path / f"{NAME}.1", lines(2, 10))
    empty = SourcePosition("file:x", rotated.stat().st_ino, 0, fp_of(rotated, 0))
    assert holds(generations(live)[0], empty)
    fd = os.open(live, os.O_RDONLY)
    try:
        plan = plan_resume(live, fd, os.fstat(fd), empty, generations(live))
    finally:
        os.close(fd)
    assert [(g.path.name, start) for g, start in plan.backlog] == [(f"{NAME}.1", 0)]


def test_checkpoints_from_before_fingerprints_migrate_and_load(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as old:  # a schema-2 checkpoints table
        old.execute("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)")
        old.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        old.execute("CREATE TABLE checkpoints (source VARCHAR(1024) PRIMARY KEY, "
                    "inode BIGINT, offset BIGINT NOT NULL, updated_at FLOAT NOT NULL)")
        old.execute("INSERT INTO checkpoints VALUES ('file:/a', 7, 1234, 1.0)")
    engine = open_database(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert current_version(conn) == SCHEMA_VERSION == 3
    writer = BatchWriter(engine)
    assert writer.load_positions() == {"file:/a": SourcePosition("file:/a", 7, 1234, None)}
    digest = bytes(range(32))
    writer.write(events=[], quarantined=[], assessments=[], now=2.0,
                 positions=[SourcePosition("file:/a", 8, 99, digest)])
    assert writer.load_positions()["file:/a"] == SourcePosition("file:/a", 8, 99, digest)
