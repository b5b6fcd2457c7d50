"""A copytruncate the tailer never saw happen: the lines were written, copied away and
truncated between two looks at the file (it was busy reading a rotated backlog, or
had not read the new file yet). Driven directly, on real files, so the timing is
exact; the soak (tests/soak) meets the same cases at random."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest

from agent.sources import fingerprint
from agent.sources.base import Chunk
from agent.sources.tailed_file import TailedFile
from ottwatch.vocabulary import SourcePosition

NAME = "app.jsonl"


class Log:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.count = 0

    def write(self, count: int) -> list[str]:
        ids = [f"e{self.count + i}" for i in range(count)]
        os.write(self.fd, b"".join(orjson.dumps({"event_id": i, "pad": "x" * 80}) + b"\n"
                                   for i in ids))
        self.count += count
        return ids

    def copytruncate(self) -> None:
        shutil.copyfile(self.path, self.path.with_name(f"{NAME}.1"))
        os.truncate(self.path, 0)


def read_all(tailed: TailedFile) -> list[str]:
    ids: list[str] = []
    for _ in range(1000):
        chunk: Chunk | None = tailed.read_chunk()
        chunks = [chunk] if chunk is not None else tailed.check_rotation(0.0)
        if chunk is None and not chunks:
            return ids
        ids += [orjson.loads(line)["event_id"] for c in chunks for _, line in c.lines]
    raise AssertionError("the tailer never reached the end")


def test_copied_and_truncated_before_the_first_read(tmp_path: Path) -> None:
    log = Log(tmp_path / NAME)
    tailed = TailedFile(log.path, max_line=65536, head=4096)
    assert tailed.open(None)  # seen empty
    written = log.write(300)
    log.copytruncate()
    written += log.write(500)  # past the copy's length: nothing looks truncated
    try:
        assert read_all(tailed) == written
    finally:
        tailed.close()


@pytest.mark.parametrize("live_before", [0, 200], ids=["live-empty", "live-seen"])
def test_copied_and_truncated_while_the_backlog_is_read(tmp_path: Path, live_before: int) -> None:
    """Restarted after a rename while stopped: the old file's rest is read first. The
    new file is copied and truncated meanwhile, refilled past the copy's length."""
    log = Log(tmp_path / NAME)
    rotated = log.write(3000)
    skipped = 100
    offset = sum(len(line) for line in log.path.read_bytes().splitlines(True)[:skipped])
    reader = os.open(log.path, os.O_RDONLY)
    checkpoint = SourcePosition(f"file:{log.path}", log.path.stat().st_ino, offset,
                                fingerprint.of_fd(reader, offset))
    os.close(reader)
    os.close(log.fd)
    log.path.rename(tmp_path / f"{NAME}.1")
    log.fd = os.open(log.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    live = log.write(live_before)
    tailed = TailedFile(log.path, max_line=65536, head=4096)
    assert tailed.open(checkpoint) and len(tailed.backlog) == 1
    first = tailed.read_chunk()
    assert first is not None and tailed.backlog, "the backlog is read in pieces"
    (tmp_path / f"{NAME}.1").rename(tmp_path / f"{NAME}.2")
    log.write(300)
    log.copytruncate()
    live = live + [f"e{i}" for i in range(3000 + live_before, 3300 + live_before)]
    live += log.write(700)
    try:
        ids = [orjson.loads(line)["event_id"] for _, line in first.lines] + read_all(tailed)
    finally:
        tailed.close()
    assert ids == rotated[skipped:] + live
