"""Tail JSON-lines files by path or glob, following logrotate.

- rename+create: the old file is read to its end (and for a short grace period,
  for writers that reopen late) before the new one is read from its start;
- copytruncate: the shrink is seen, the lines written since our last read are
  taken from the rotated copy when it is beside the file, then the file is read
  from its start;
- restart: the checkpoint names the inode and offset; if the file was rotated
  while the agent was down, the rest of the old inode is found beside it.

watchfiles wakes the tailer on changes (or polls, with `poll=True`); a slow
timer re-checks anyway so a missed notification costs latency, never data.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import time
from pathlib import Path

import watchfiles

from agent.sources.base import Chunk, LineSplitter
from storage.writer import SourcePosition

log = logging.getLogger("ottwatch.source.file")

READ_BYTES = 1 << 20
FINGERPRINT = 64
ROTATE_GRACE_S = 1.0
SAFETY_POLL_S = 1.0


def file_source_name(path: str | os.PathLike[str]) -> str:
    return f"file:{os.path.abspath(path)}"


class TailedFile:
    def __init__(self, path: Path, max_line: int, head: int) -> None:
        self.path = path
        self.name = file_source_name(path)
        self.max_line = max_line
        self.head = head
        self.fd: int | None = None
        self.inode: int | None = None
        self.splitter = LineSplitter(max_line, head)
        self.fingerprint = b""  # the bytes just before splitter.offset, to recognise a copy
        self.rotated_at: float | None = None

    # -- opening ---------------------------------------------------------------
    def open(self, position: SourcePosition | None) -> list[Chunk]:
        """Open the file, resuming from a checkpoint; returns chunks recovered from
        a rotated predecessor that must be stored first."""
        recovered: list[Chunk] = []
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return recovered
        offset = 0
        if position is not None and position.inode is not None:
            if st.st_ino == position.inode:
                if st.st_size >= position.offset:
                    offset = position.offset
                else:
                    log.warning("%s: shorter than its checkpoint (truncated while stopped); "
                                "reading from the start", self.path)
            else:
                sibling = self._find_sibling(lambda s: s.st_ino == position.inode)
                if sibling is not None:
                    log.info("%s: rotated while stopped; finishing %s first", self.path, sibling)
                    recovered.append(self._read_rest(sibling, position.offset))
                else:
                    log.warning("%s: rotated while stopped and the old file is gone; "
                                "reading the new file from the start", self.path)
        self._open_fd(offset)
        return recovered

    def _open_fd(self, offset: int) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        self.fd = fd
        self.inode = os.fstat(fd).st_ino
        os.lseek(fd, offset, os.SEEK_SET)
        self.splitter = LineSplitter(self.max_line, self.head, offset)
        self.fingerprint = os.pread(fd, min(offset, FINGERPRINT), max(0, offset - FINGERPRINT))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _find_sibling(self, match) -> Path | None:  # noqa: ANN001
        for candidate in sorted(self.path.parent.glob(self.path.name + "?*")):
            if candidate.suffix == ".gz" or candidate == self.path:
                continue
            try:
                if match(candidate.stat()):
                    return candidate
            except FileNotFoundError:
                continue
        return None

    def _read_rest(self, path: Path, offset: int) -> Chunk:
        splitter = LineSplitter(self.max_line, self.head, offset)
        chunk = Chunk(self.name, [])
        with open(path, "rb") as handle:
            handle.seek(offset)
            while data := handle.read(READ_BYTES):
                splitter.feed(data, chunk)
        splitter.flush(chunk)
        return chunk

    # -- reading ---------------------------------------------------------------
    def position(self) -> SourcePosition:
        return SourcePosition(self.name, self.inode, self.splitter.resume_offset)

    def read_chunk(self) -> Chunk | None:
        """Up to READ_BYTES of new lines, or None at the end of the file."""
        if self.fd is None:
            return None
        data = os.read(self.fd, READ_BYTES)
        if not data:
            return None
        chunk = Chunk(self.name, [])
        self.splitter.feed(data, chunk)
        end = self.splitter.offset
        self.fingerprint = os.pread(self.fd, min(end, FINGERPRINT), max(0, end - FINGERPRINT))
        chunk.position = self.position()
        return chunk

    def check_rotation(self, now: float) -> list[Chunk]:
        """Called at end of file: handle truncation and rotation. Returns chunks to store."""
        if self.fd is None:
            try:
                self._open_fd(0)
            except FileNotFoundError:
                return []
            return []
        out: list[Chunk] = []
        size = os.fstat(self.fd).st_size
        consumed = self.splitter.offset + len(self.splitter.pending)
        offset = self.splitter.offset
        rewritten = bool(self.fingerprint) and os.pread(
            self.fd, len(self.fingerprint), offset - len(self.fingerprint)) != self.fingerprint
        if size < consumed or rewritten:
            out += self._on_truncate()
            return out
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return out  # renamed, not yet re-created: keep reading the old inode
        if st.st_ino == self.inode:
            self.rotated_at = None
            return out
        if self.rotated_at is None:
            self.rotated_at = now
            return out
        if now - self.rotated_at < ROTATE_GRACE_S:
            return out
        final = Chunk(self.name, [])
        self.splitter.flush(final)
        log.info("%s: rotated (rename); now reading the new file", self.path)
        self.close()
        self.rotated_at = None
        self._open_fd(0)
        final.position = self.position()
        out.append(final)
        return out

    def _on_truncate(self) -> list[Chunk]:
        offset = self.splitter.offset
        fingerprint = self.fingerprint

        def is_copy(st: os.stat_result) -> bool:
            return st.st_size >= offset

        copy = self._find_sibling(is_copy) if offset else None
        out: list[Chunk] = []
        if copy is not None:
            with open(copy, "rb") as handle:
                handle.seek(offset - len(fingerprint))
                same = handle.read(len(fingerprint)) == fingerprint
            if same:
                log.info("%s: truncated (copytruncate); finishing from %s", self.path, copy)
                out.append(self._read_rest(copy, offset))
            else:
                copy = None
        if copy is None:
            log.warning("%s: truncated to a shorter file; reading from the start", self.path)
        os.lseek(self.fd, 0, os.SEEK_SET)  # type: ignore[arg-type]
        self.splitter = LineSplitter(self.max_line, self.head, 0)
        self.fingerprint = b""
        marker = Chunk(self.name, [], position=self.position())
        out.append(marker)
        return out


class FileTailSource:
    """Follows every file matching the patterns, for as long as the agent runs."""

    def __init__(
        self,
        patterns: list[str],
        positions: dict[str, SourcePosition],
        *,
        max_line: int,
        head: int,
        poll: bool = False,
        poll_interval_ms: int = 250,
    ) -> None:
        self.name = "files"
        self.patterns = [os.path.abspath(os.path.expanduser(p)) for p in patterns]
        self.positions = positions
        self.max_line = max_line
        self.head = head
        self.poll = poll
        self.poll_interval_ms = poll_interval_ms
        self.files: dict[Path, TailedFile] = {}
        self.caught_up = asyncio.Event()

    def set_patterns(self, patterns: list[str]) -> None:
        self.patterns = [os.path.abspath(os.path.expanduser(p)) for p in patterns]

    def _discover(self) -> list[Chunk]:
        recovered: list[Chunk] = []
        for pattern in self.patterns:
            matches = glob.glob(pattern) if glob.has_magic(pattern) else [pattern]
            for match in matches:
                path = Path(match)
                if path in self.files or path.suffix == ".gz" or not path.is_file():
                    continue
                tailed = TailedFile(path, self.max_line, self.head)
                recovered += tailed.open(self.positions.get(tailed.name))
                self.files[path] = tailed
                log.info("following %s", path)
        return recovered

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        watcher = asyncio.create_task(self._watch(wake, stop))
        try:
            while not stop.is_set():
                wake.clear()
                for chunk in self._discover():
                    await queue.put(chunk)
                progressed = False
                for tailed in list(self.files.values()):
                    while not stop.is_set() and (chunk := tailed.read_chunk()) is not None:
                        progressed = True
                        await queue.put(chunk)
                    for chunk in tailed.check_rotation(time.monotonic()):
                        await queue.put(chunk)
                if progressed:
                    continue
                self.caught_up.set()
                try:
                    await asyncio.wait_for(wake.wait(), SAFETY_POLL_S if not self.poll
                                           else self.poll_interval_ms / 1000)
                except TimeoutError:
                    pass
                self.caught_up.clear()
        finally:
            watcher.cancel()
            for tailed in self.files.values():
                tailed.close()

    async def _watch(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        if self.poll:
            return  # the run loop's own timer is the polling fallback
        folders = sorted({str(Path(p).parent) for p in self.patterns if Path(p).parent.is_dir()})
        if not folders:
            return
        try:
            async for _changes in watchfiles.awatch(
                *folders, stop_event=stop, debounce=50, step=10, recursive=False,
                watch_filter=None,
            ):
                wake.set()
        except (OSError, RuntimeError) as exc:
            self.poll = True
            log.warning("file notifications unavailable (%s); polling every %.0f ms",
                        exc, self.poll_interval_ms)
