"""Tail JSON-lines files by path or glob, each followed through logrotate by a
`TailedFile` (`agent.sources.tailed_file`).

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

from agent.sources.base import Chunk
from agent.sources.rotation import COMPRESSED
from agent.sources.tailed_file import TailedFile
from ottwatch.clock import wait_at_most
from ottwatch.vocabulary import SourcePosition

log = logging.getLogger("ottwatch.source.file")

SAFETY_POLL_S = 1.0


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
        self.announced: set[str] = set()  # patterns looked for at least once
        self.waiting: set[str] = set()  # patterns warned about, no file yet

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
                    if pattern in self.waiting:
                        self.waiting.discard(pattern)
                        log.info("source %s: %s appeared", pattern, path)
            if pattern not in self.announced and not any(
                    str(path) in matches for path in self.files):
                self.waiting.add(pattern)
                log.warning("source %s matches no file yet; waiting for it", pattern)
            self.announced.add(pattern)

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
                await wait_at_most(wake, SAFETY_POLL_S if not self.poll
                                   else self.poll_interval_ms / 1000)
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
