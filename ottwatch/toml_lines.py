"""Where each key of a TOML document is: `tomllib` keeps no positions.

`key_lines(text)` maps a key's path to the line (1-based) that sets it: the line of a
`[table]` or `[[array]]` header for the table itself, of `key = ...` (dotted keys too)
for a key. An array of tables contributes its index, as a validator's error location
does: the second `[[alerts.overrides]]` is `("alerts", "overrides", 1)`. Keys inside an
inline table or an inline array of tables are not located: their path's nearest located
prefix (the line of `key = {...}`) stands for them (`line_of`).

The document is expected to be valid TOML (`tomllib` has read it): the scan only tells
headers and key lines from the values that continue over several lines (arrays,
multi-line strings) so that a line inside a value is never taken for a key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

Path = tuple[str | int, ...]

_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"\[\s*({_DOTTED})\s*\]")
_ARRAY_HEADER = re.compile(rf"\[\[\s*({_DOTTED})\s*\]\]")
_KEY = re.compile(rf"({_DOTTED})\s*=")
_PART = re.compile(_KEY_PART)


def _parts(dotted: str) -> tuple[str, ...]:
    out = []
    for token in _PART.findall(dotted):
        if token.startswith('"'):
            out.append(json.loads(token))
        elif token.startswith("'"):
            out.append(token[1:-1])
        else:
            out.append(token)
    return tuple(out)


class _Scanner:
    """Open brackets and strings across lines, outside which a line may start a key."""

    def __init__(self) -> None:
        self.depth = 0
        self.multiline: str | None = None  # '"""' or "'''" while inside one

    @property
    def at_top(self) -> bool:
        return self.depth == 0 and self.multiline is None

    def feed(self, line: str, start: int = 0) -> None:
        i = start
        while i < len(line):
            if self.multiline is not None:
                end = line.find(self.multiline, i)
                if end < 0:
                    return
                i, self.multiline = end + 3, None
                continue
            char = line[i]
            if char == "#":
                return
            if line.startswith(('"""', "'''"), i):
                self.multiline = line[i:i + 3]
                i += 3
            elif char in "\"'":
                i = self._string_end(line, i)
            else:
                self.depth += (char in "[{") - (char in "]}")
                i += 1

    @staticmethod
    def _string_end(line: str, start: int) -> int:
        quote, i = line[start], start + 1
        while i < len(line) and line[i] != quote:
            i += 2 if quote == '"' and line[i] == "\\" else 1
        return i + 1


def key_lines(text: str) -> dict[Path, int]:
    lines: dict[Path, int] = {}
    table: Path = ()
    arrays: dict[tuple[str | int, ...], int] = {}
    scanner = _Scanner()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if not scanner.at_top:
            scanner.feed(line)
            continue
        if match := _ARRAY_HEADER.match(stripped):
            base = _parts(match.group(1))
            index = arrays[base] = arrays.get(base, -1) + 1
            table = (*base, index)
            lines.setdefault(base, number)
            lines[table] = number
        elif match := _HEADER.match(stripped):
            table = _within_arrays(_parts(match.group(1)), arrays)
            lines.setdefault(table, number)
        elif match := _KEY.match(stripped):
            key = _parts(match.group(1))
            for end in range(1, len(key) + 1):
                lines.setdefault((*table, *key[:end]), number)
            scanner.feed(stripped, match.end())
    return lines


def _within_arrays(path: tuple[str, ...], arrays: Mapping[Path, int]) -> Path:
    """`[alerts.overrides.extra]` after `[[alerts.overrides]]` is in its last element."""
    out: list[str | int] = []
    for part in path:
        out.append(part)
        if (index := arrays.get(tuple(out))) is not None and len(out) < len(path):
            out.append(index)
    return tuple(out)


def line_of(lines: Mapping[Path, int], path: Sequence[str | int]) -> int | None:
    """The line of `path`, else of its nearest located prefix; None when none is."""
    for end in range(len(path), 0, -1):
        if (number := lines.get(tuple(path[:end]))) is not None:
            return number
    return None
