"""Tail JSON-lines files by path or glob, following logrotate.

- rename+create: the old file is read to its end (and for a short grace period,
  for writers that reopen late) before the new one is read from its start;
  generations rotated away meanwhile without being seen (the agent lagged, or
  two rotations came within the grace period) are read in between, oldest first;
- copytruncate: the shrink (or a rewrite: the bytes before the read offset
  changed) is seen before reading on, the lines written since our last read are
  taken from the rotated copy when it is beside the file, then the file is read
  from its start;
- restart: the checkpoint names the inode and offset; if the file was rotated
  while the agent was down, the rest of the old inode is found beside it (and
  later generations after it); if it was copied and truncated, the rest is
  taken from the newest rotated copy.

Rotated files are read through a backlog, a chunk at a time, before the live
file, so memory stays bounded however much was rotated away.

watchfiles wakes the tailer on changes (or polls, with `poll=True`); a slow
timer re-checks anyway so a missed notification costs latency, never data.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from agent.sources.base import Chunk, LineSplitter
from storage.writer import SourcePosition

log = logging.getLogger("ottwatch.source.file")

READ_BYTES = 256 << 10  # about one batch of lines
FINGERPRINT = 64
ROTATE_GRACE_S = 1.0
SAFETY_POLL_S = 1.0
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".z")


def file_source_name(path: str | os.PathLike[str]) -> str:
    return f"file:{os.path.abspath(path)}"


def _at_line_start(fd: int, offset: int) -> bool:
    """A checkpoint is always at the start of a line: offset 0 or just after a newline."""
    return offset == 0 or os.pread(fd, 1, offset - 1) == b"\n"


@dataclass
class Rotated:
    """The unread rest of a rotated-away file, read before the live file."""

    path: Path
    offset: int
    inode: int | None  # checkpoint against this inode while reading it; None for a copy
    fd: int | None = None
    splitter: LineSplitter | None = None


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
        self.backlog: list[Rotated] = []
        self._rotation_name = re.compile(re.escape(path.name) + r"[.-]\d[\d.-]*")

    # -- opening ---------------------------------------------------------------
    def open(self, position: SourcePosition | None) -> bool:
        """Open the file, resuming from a checkpoint; rotated predecessors with lines
        not yet stored go to the backlog. False when the file is not there."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        st = os.fstat(fd)
        offset = 0
        if position is not None and position.inode is not None:
            if st.st_ino == position.inode:
                if st.st_size >= position.offset and _at_line_start(fd, position.offset):
                    offset = position.offset
                else:
                    self._recover_copy(position.offset)
            else:
                self._recover_rotated(position, exclude=st.st_ino)
        self._adopt(fd, offset)
        return True

    def _recover_copy(self, offset: int) -> None:
        """The file is shorter than its checkpoint, or no longer has a line start
        there: copied and truncated while we were stopped."""
        for candidate, st in self._generations(newest_first=True):
            if st.st_size < offset:
                continue
            fd = os.open(candidate, os.O_RDONLY)
            try:
                fits = _at_line_start(fd, offset)
            finally:
                os.close(fd)
            if fits:
                log.info("%s: truncated while stopped (copytruncate); finishing %s first",
                         self.path, candidate)
                self.backlog.append(Rotated(candidate, offset, None))
                return
        log.warning("%s: truncated or rewritten while stopped and no rotated copy holds the "
                    "rest; reading from the start", self.path)

    def _recover_rotated(self, position: SourcePosition, *, exclude: int) -> None:
        """The file was rotated (renamed) while we were stopped: finish the old inode,
        then any later generations, before the file now at the path."""
        generations = self._generations(newest_first=False)
        found = next(((p, st) for p, st in self._siblings() if st.st_ino == position.inode),
                     None)
        if found is None:
            log.warning("%s: rotated while stopped and the old file is gone; "
                        "reading the new file from the start", self.path)
            return
        old, old_st = found
        log.info("%s: rotated while stopped; finishing %s first", self.path, old)
        self.backlog.append(Rotated(old, position.offset, old_st.st_ino))
        self._queue_missed(generations, after=old_st, exclude={old_st.st_ino, exclude})

    def _queue_missed(self, generations: list[tuple[Path, os.stat_result]], *,
                      after: os.stat_result, exclude: set[int]) -> None:
        """Generations written after `after` that were rotated away unread."""
        for path, st in generations:
            if st.st_ino not in exclude and st.st_mtime_ns >= after.st_mtime_ns:
                log.warning("%s: %s was rotated away before it was read; reading it now",
                            self.path, path)
                self.backlog.append(Rotated(path, 0, st.st_ino))
                exclude.add(st.st_ino)

    def _adopt(self, fd: int, offset: int) -> None:
        self.fd = fd
        self.inode = os.fstat(fd).st_ino
        os.lseek(fd, offset, os.SEEK_SET)
        self.splitter = LineSplitter(self.max_line, self.head, offset)
        self.fingerprint = os.pread(fd, min(offset, FINGERPRINT), max(0, offset - FINGERPRINT))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        for rotated in self.backlog:
            if rotated.fd is not None:
                os.close(rotated.fd)
                rotated.fd = None

    def _siblings(self) -> list[tuple[Path, os.stat_result]]:
        """Files beside ours whose name extends it (app.jsonl.1, app.jsonl-20261101),
        uncompressed, with their stat."""
        found = []
        for candidate in sorted(self.path.parent.glob(glob.escape(self.path.name) + "?*")):
            if candidate.suffix.lower() in COMPRESSED or candidate == self.path:
                continue
            try:
                st = candidate.stat()
            except FileNotFoundError:
                continue
            found.append((candidate, st))
        return found

    def _generations(self, *, newest_first: bool) -> list[tuple[Path, os.stat_result]]:
        """Siblings named the way rotation names them, ordered by modification time."""
        rotated = [(p, st) for p, st in self._siblings() if self._rotation_name.fullmatch(p.name)]
        return sorted(rotated, key=lambda item: item[1].st_mtime_ns, reverse=newest_first)

    # -- reading ---------------------------------------------------------------
    def position(self) -> SourcePosition:
        return SourcePosition(self.name, self.inode, self.splitter.resume_offset)

    def read_chunk(self) -> Chunk | None:
        """Up to READ_BYTES of new lines (the backlog first), or None at the end of
        the live file, or when it was truncated or rewritten under us (which
        `check_rotation` then handles)."""
        if self.backlog:
            return self._read_backlog()
        if self.fd is None or self._rewritten():
            return None
        data = os.read(self.fd, READ_BYTES)
        if not data:
            return None
        chunk = Chunk(self.name, [])
        self.splitter.feed(data, chunk)
        self._remember_fingerprint()
        chunk.position = self.position()
        return chunk

    def _read_backlog(self) -> Chunk:
        rotated = self.backlog[0]
        chunk = Chunk(self.name, [])
        try:
            if rotated.fd is None:
                rotated.fd = os.open(rotated.path, os.O_RDONLY)
                os.lseek(rotated.fd, rotated.offset, os.SEEK_SET)
                rotated.splitter = LineSplitter(self.max_line, self.head, rotated.offset)
        except FileNotFoundError:
            log.warning("%s: rotated file %s vanished before it was read", self.path,
                        rotated.path)
            self.backlog.pop(0)
            chunk.position = self.position() if not self.backlog else None
            return chunk
        assert rotated.splitter is not None
        data = os.read(rotated.fd, READ_BYTES)
        if data:
            rotated.splitter.feed(data, chunk)
            if rotated.inode is not None:
                chunk.position = SourcePosition(self.name, rotated.inode,
                                                rotated.splitter.resume_offset)
            return chunk
        rotated.splitter.flush(chunk)  # a rotated file is complete: a last partial line counts
        os.close(rotated.fd)
        self.backlog.pop(0)
        if not self.backlog:
            chunk.position = self.position()
        return chunk

    def _remember_fingerprint(self) -> None:
        assert self.fd is not None
        end = self.splitter.offset
        self.fingerprint = os.pread(self.fd, min(end, FINGERPRINT), max(0, end - FINGERPRINT))

    def _rewritten(self) -> bool:
        """Are the bytes just before our read offset no longer what we read there?"""
        if not self.fingerprint:
            return False
        assert self.fd is not None
        at = self.splitter.offset - len(self.fingerprint)
        return os.pread(self.fd, len(self.fingerprint), at) != self.fingerprint

    def check_rotation(self, now: float) -> list[Chunk]:
        """Called at end of file: handle truncation and rotation. Returns chunks to store."""
        if self.fd is None:
            self.open(None)
            return []
        size = os.fstat(self.fd).st_size
        consumed = self.splitter.offset + len(self.splitter.pending)
        if size < consumed or self._rewritten():
            return self._on_truncate()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []  # renamed, not yet re-created: keep reading the old inode
        if st.st_ino == self.inode:
            self.rotated_at = None
            return []
        if self.rotated_at is None:
            self.rotated_at = now
            return []
        if now - self.rotated_at < ROTATE_GRACE_S:
            return []
        return self._follow_rename()

    def _follow_rename(self) -> list[Chunk]:
        assert self.fd is not None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []  # moved away again: the next check sees what replaced it
        final = Chunk(self.name, [])
        self.splitter.flush(final)
        old = os.fstat(self.fd)
        log.info("%s: rotated (rename); now reading the new file", self.path)
        self.close()
        self.rotated_at = None
        self._adopt(fd, 0)
        self._queue_missed(self._generations(newest_first=False), after=old,
                           exclude={old.st_ino, self.inode or -1})
        final.position = self.position() if not self.backlog else None
        return [final]

    def _on_truncate(self) -> list[Chunk]:
        assert self.fd is not None
        end, resume, fingerprint = (self.splitter.offset, self.splitter.resume_offset,
                                    self.fingerprint)
        copy = self._find_copy(end, fingerprint) if end else None
        if copy is not None:
            log.info("%s: truncated (copytruncate); finishing from %s", self.path, copy)
            self.backlog.append(Rotated(copy, resume, None))
        else:
            log.warning("%s: truncated (shorter, or rewritten before our offset); reading from "
                        "the start", self.path)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.splitter = LineSplitter(self.max_line, self.head, 0)
        self.fingerprint = b""
        if self.backlog:
            return []  # the backlog's last chunk carries the new position
        return [Chunk(self.name, [], position=self.position())]

    def _find_copy(self, end: int, fingerprint: bytes) -> Path | None:
        """The rotated copy holding what we read up to `end` (the same bytes before it):
        rotation-named siblings newest first, then any other sibling."""
        seen: set[Path] = set()
        for candidate, st in self._generations(newest_first=True) + self._siblings():
            if candidate in seen or st.st_size < end or st.st_ino == self.inode:
                continue
            seen.add(candidate)
            try:
                fd = os.open(candidate, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                if os.pread(fd, len(fingerprint), end - len(fingerprint)) == fingerprint:
                    return candidate
            finally:
                os.close(fd)
        return None


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

    def _discover(self) -> None:
        for pattern in self.patterns:
            matches = glob.glob(pattern) if glob.has_magic(pattern) else [pattern]
            for match in matches:
                path = Path(match)
                if (path in self.files or path.suffix.lower() in COMPRESSED
                        or not path.is_file()):
                    continue
                tailed = TailedFile(path, self.max_line, self.head)
                if tailed.open(self.positions.get(tailed.name)):
                    self.files[path] = tailed
                    log.info("following %s", path)

    def _folders(self) -> list[str]:
        return sorted({str(Path(p).parent) for p in self.patterns if Path(p).parent.is_dir()})

    async def run(self, queue: asyncio.Queue[Chunk], stop: asyncio.Event) -> None:
        wake = asyncio.Event()
        folders = self._folders()
        watcher = Watcher(self, folders, wake)
        try:
            while not stop.is_set():
                wake.clear()
                if (current := self._folders()) != folders:
                    folders = current
                    watcher.close()
                    watcher = Watcher(self, folders, wake)
                self._discover()
                progressed = False
                for tailed in list(self.files.values()):
                    while not stop.is_set() and (chunk := tailed.read_chunk()) is not None:
                        progressed = True
                        await queue.put(chunk)
                    for chunk in tailed.check_rotation(time.monotonic()):
                        progressed = True
                        await queue.put(chunk)
                    progressed = progressed or bool(tailed.backlog)
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
            watcher.close()
            for tailed in self.files.values():
                tailed.close()


class Watcher:
    """watchfiles on some folders, setting `wake` on any change. It has a stop event
    of its own: cancelling `awatch` sets the event it was given, which must never be
    the agent's."""

    def __init__(self, source: FileTailSource, folders: list[str], wake: asyncio.Event) -> None:
        self.source = source
        self.halt = asyncio.Event()
        self.task = asyncio.create_task(self._watch(folders, wake))

    def close(self) -> None:
        self.halt.set()
        self.task.cancel()

    async def _watch(self, folders: list[str], wake: asyncio.Event) -> None:
        source = self.source
        if source.poll or not folders:
            return  # the run loop's own timer is the polling fallback
        try:
            async for _changes in watchfiles.awatch(
                *folders, stop_event=self.halt, debounce=50, step=10, recursive=False,
                watch_filter=None,
            ):
                wake.set()
        except (OSError, RuntimeError) as exc:
            source.poll = True
            log.warning("file notifications unavailable (%s); polling every %.0f ms",
                        exc, source.poll_interval_ms)
