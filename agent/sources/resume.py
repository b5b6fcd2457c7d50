"""Where to resume a file after a restart: the checkpoint says an inode, an offset and a
fingerprint of the content before that offset (agent/sources/fingerprint.py).

- the live file holds that content: resume it at the offset;
- else the file was replaced while we were stopped (renamed away, compressed, copied
  and truncated, perhaps refilled past the offset; its inode may even be back on
  the new file): finish the rotated generation that holds the content from the
  offset, then every later generation whole, then the live file from its start;
- no generation holds it: read the live file from its start, with a warning.

Checkpoints written before fingerprints existed resume by inode and offset, as
ottwatch did then (`plan_legacy`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.sources import fingerprint
from agent.sources.rotation import Generation, find_holder, holds
from ottwatch.vocabulary import SourcePosition


@dataclass
class Plan:
    live_offset: int
    backlog: list[tuple[Generation, int]] = field(default_factory=list)  # (file, from offset)
    level: int = logging.INFO
    message: str = ""

    def describe(self, path: Path) -> str:
        return f"{path}: {self.message}"


def live_holds(fd: int, st: os.stat_result, position: SourcePosition) -> bool:
    if position.offset == fingerprint.EMPTY_OFFSET:
        return st.st_ino == position.inode  # nothing read yet: the inode is all there is
    if st.st_size < position.offset:
        return False
    return fingerprint.of_fd(fd, position.offset) == position.fingerprint


def plan_resume(path: Path, live_fd: int, live_stat: os.stat_result, position: SourcePosition,
                found: list[Generation], *,
                live_check: Callable[[int, os.stat_result, SourcePosition], bool] = live_holds,
                check: Callable[[Generation, SourcePosition], bool] = holds) -> Plan:
    offset = position.offset
    if live_check(live_fd, live_stat, position):
        return Plan(offset, message=f"resumed at offset {offset} (content checked)")
    index = find_holder(found, position, live_inode=live_stat.st_ino, check=check)
    if index is None:
        return Plan(0, level=logging.WARNING, message=(
            f"replaced while stopped and no rotated file holds what was read up to offset "
            f"{offset}: reading {path.name} from 0"))
    holder = found[index]
    how = ("rotated" if holder.inode == position.inode and not holder.compressed
           else "replaced")
    return _finish(path, found, index, offset, live_stat.st_ino, f"{how} while stopped")


def _finish(path: Path, found: list[Generation], index: int, offset: int, live_inode: int,
            what: str) -> Plan:
    """Read found[index] from `offset`, the generations after it whole, then the live file."""
    holder, later = found[index], [g for g in found[index + 1:] if g.inode != live_inode]
    steps = [f"finished {holder.path.name} from offset {offset}"]
    steps += [f"{g.path.name} whole" for g in later]
    return Plan(0, [(holder, offset)] + [(g, 0) for g in later], logging.WARNING,
                f"{what}: {', '.join(steps)}, then {path.name} from 0")


LEGACY = "checkpoint without a fingerprint (from before content checks), by inode and offset: "


def _at_line_start(fd: int, offset: int) -> bool:
    return offset == 0 or os.pread(fd, 1, offset - 1) == b"\n"


def _copy_holds(generation: Generation, position: SourcePosition) -> bool:
    if generation.compressed or generation.stat.st_size < position.offset:
        return False
    try:
        fd = os.open(generation.path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return _at_line_start(fd, position.offset)
    finally:
        os.close(fd)


def plan_legacy(path: Path, live_fd: int, live_stat: os.stat_result, position: SourcePosition,
                found: list[Generation]) -> Plan:
    """Trust the offset when the inode matches, the file is long enough and a line starts
    there; else look for the old inode beside the file, or a copy long enough."""
    offset, live_inode = position.offset, live_stat.st_ino
    if live_inode == position.inode:
        if live_stat.st_size >= offset and _at_line_start(live_fd, offset):
            return Plan(offset, message=LEGACY + f"resumed at offset {offset}")
        copies = [i for i in reversed(range(len(found)))
                  if found[i].inode != live_inode and _copy_holds(found[i], position)]
        if copies:
            return _finish(path, found, copies[0], offset, live_inode,
                           LEGACY + "truncated while stopped (copytruncate)")
        return Plan(0, level=logging.WARNING, message=LEGACY + (
            "truncated or rewritten while stopped and no rotated copy holds the rest; "
            "reading from the start"))
    renamed = [i for i, g in enumerate(found) if g.inode == position.inode and not g.compressed]
    if renamed:
        return _finish(path, found, renamed[0], offset, live_inode,
                       LEGACY + "rotated while stopped")
    return Plan(0, level=logging.WARNING, message=LEGACY + (
        "rotated while stopped and the old file is gone; reading the new file from the start"))
