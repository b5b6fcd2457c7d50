"""Known anonymizer addresses (Tor exits, VPN, proxies, hosting) from list files.

A path may be a file or a folder (every non-hidden file in it, e.g. the feeds
folder `ottwatch feeds update` writes). Lists are reloaded when a file's mtime
or size changes, a file appears or goes; `refresh(now)` looks at most every
`check_every_s` seconds of `now` and does nothing else, so the per-event path
(`match`) never touches the disk. The Anonymous-IP database is read by
`GeoLookup`; the stage merges both answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ottwatch.geo.addresses import IPAddress, parse_ip, special_purpose
from ottwatch.geo.listfile import kind_from_name, parse_list
from ottwatch.geo.model import ANONYMIZER_KINDS
from ottwatch.geo.ranges import RangeTable

DEFAULT_KIND = "proxy"  # a list whose name, header and lines name no kind
_KIND_RANK = {kind: rank for rank, kind in enumerate(ANONYMIZER_KINDS)}
_IGNORED_SUFFIXES = (".tmp", ".part", ".swp", "~")

Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class AnonymizerMatch:
    kind: str  # tor, vpn, proxy or hosting
    source: str  # the list's file name


@dataclass(frozen=True, slots=True)
class ListStatus:
    path: Path
    entries: int = 0
    skipped: int = 0
    kinds: tuple[str, ...] = ()
    error: str | None = None

    def describe(self) -> str:
        if self.error:
            return f"{self.path}: {self.error}"
        skipped = f", {self.skipped:,} lines skipped" if self.skipped else ""
        kinds = "/".join(self.kinds) or "no entries"
        return f"{self.path}: {self.entries:,} entries ({kinds}){skipped}"


class AnonymizerSet:
    def __init__(self, paths: Iterable[str | os.PathLike[str]] = (), *,
                 check_every_s: float = 5.0, default_kind: str = DEFAULT_KIND) -> None:
        if default_kind not in _KIND_RANK:
            raise ValueError(f"default_kind must be one of {', '.join(ANONYMIZER_KINDS)}")
        self.paths = [Path(p) for p in paths]
        self.check_every_s = check_every_s
        self.default_kind = default_kind
        self.version = 0  # bumped on every (re)load; callers caching matches compare it
        self.lists: list[ListStatus] = []
        self._checked_at: float | None = None
        self._signature: Signature = ()
        self._labels: list[AnonymizerMatch] = []
        self._v4 = RangeTable(())
        self._v6 = RangeTable(())
        self.reload()

    def __len__(self) -> int:
        return len(self._v4) + len(self._v6)

    @property
    def entries(self) -> int:
        return sum(status.entries for status in self.lists)

    def match(self, ip: str) -> AnonymizerMatch | None:
        address = parse_ip(ip)
        if address is None or special_purpose(address) is not None:
            return None
        return self.match_address(address)

    def match_address(self, address: IPAddress) -> AnonymizerMatch | None:
        table = self._v4 if address.version == 4 else self._v6
        label = table.find(int(address))
        return None if label is None else self._labels[label]

    def refresh(self, now: float) -> bool:
        """Reload if due (every `check_every_s` of `now`) and a list changed; True if it did."""
        checked = self._checked_at
        if checked is not None and 0 <= now - checked < self.check_every_s:
            return False
        self._checked_at = now
        signature = self._current_signature()
        if signature == self._signature:
            return False
        self._load(signature)
        return True

    def reload(self) -> None:
        self._load(self._current_signature())

    def describe(self) -> str:
        if not self.paths:
            return "no anonymizer lists configured"
        return (f"{len(self.lists)} anonymizer list(s), {self.entries:,} entries: "
                + "; ".join(status.describe() for status in self.lists))

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for path in self.paths:
            if path.is_dir():
                files.extend(sorted(
                    child for child in path.iterdir()
                    if child.is_file() and not child.name.startswith(".")
                    and not child.name.endswith(_IGNORED_SUFFIXES)))
            else:
                files.append(path)
        return files

    def _current_signature(self) -> Signature:
        signature = []
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                signature.append((str(path), -1, -1))
            else:
                signature.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def _load(self, signature: Signature) -> None:
        spans: dict[int, list[tuple[int, int, int]]] = {4: [], 6: []}
        labels: dict[AnonymizerMatch, int] = {}
        statuses = []
        for name, _, _ in signature:
            path = Path(name)
            try:
                parsed = parse_list(path.read_text(encoding="utf-8", errors="replace"))
            except OSError as exc:
                statuses.append(ListStatus(path, error=exc.strerror or str(exc)))
                continue
            file_kind = parsed.kind or kind_from_name(path.name) or self.default_kind
            kinds: set[str] = set()
            for entry in parsed.entries:
                label = AnonymizerMatch(entry.kind or file_kind, path.name)
                kinds.add(label.kind)
                number = labels.setdefault(label, len(labels))
                spans[entry.version].append((entry.start, entry.end, number))
            statuses.append(ListStatus(path, len(parsed.entries), parsed.skipped,
                                       tuple(sorted(kinds, key=_KIND_RANK.__getitem__))))
        ordered = list(labels)
        ranks = [(_KIND_RANK[label.kind], number) for number, label in enumerate(ordered)]
        self._v4 = RangeTable(spans[4], ranks.__getitem__)
        self._v6 = RangeTable(spans[6], ranks.__getitem__)
        self._labels = ordered
        self.lists = statuses
        self._signature = signature
        self.version += 1
