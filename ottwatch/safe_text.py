"""Nothing from an event is code: how any string that came from input is shown.

- On a terminal (CLI and console), control and format characters (Unicode
  categories Cc, Cf, Cs, Zl, Zp: ESC, NUL, C1 controls, bidi overrides such as
  U+202E, zero-width characters, line separators) become visible escapes
  (`\\x1b`, `\\u202e`), and a string is never parsed as Rich markup.
- In JSON, the same characters are written as JSON `\\uXXXX` escapes: a JSON
  reader gets the exact data back, a terminal never sees them raw.
- In CSV, a cell that a spreadsheet would read as a formula (it starts with
  `=`, `+`, `-`, `@`, tab or CR) is prefixed with `'` (OWASP CSV injection), and
  unsafe characters other than line feeds become visible escapes: CSV is the
  format for people and spreadsheets, JSON lines the exact one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from rich.text import Text

UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_JSON_WHITESPACE = frozenset("\n\r\t")
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def _replace_unsafe(text: str, escape: Callable[[str], str]) -> str:
    if text.isprintable():  # false for every unsafe category: the common case is quick
        return text
    return "".join(escape(c) if is_unsafe(c) else c for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(value: object, *, keep_newlines: bool = False) -> str:
    """`value` as text a terminal shows literally: unsafe characters as escapes.
    `keep_newlines` keeps line feeds for multi-line text (an alert's body)."""
    text = "" if value is None else str(value)
    if keep_newlines:
        return "\n".join(_replace_unsafe(line, _escape) for line in text.split("\n"))
    return _replace_unsafe(text, _escape)


def plain(value: object, style: str = "", **text_options: Any) -> Text:
    """A Rich `Text` that shows `value` literally: no markup, no control characters."""
    return Text(visible(value), style=style, **text_options)


def _json_escape(char: str) -> str:
    if char in _JSON_WHITESPACE:  # raw only between tokens: orjson escapes them in strings
        return char
    encoded = char.encode("utf-16-be", "surrogatepass")
    return "".join(f"\\u{int.from_bytes(encoded[i:i + 2], 'big'):04x}"
                   for i in range(0, len(encoded), 2))


def json_safe(document: str) -> str:
    """A JSON document with every unsafe character in its strings written as `\\uXXXX`.
    Outside strings JSON is printable ASCII, so only string content changes, and it
    decodes to the same data."""
    return _replace_unsafe(document, _json_escape)


def dumps(value: Any, *, indent: bool = False, option: int = 0) -> str:
    """orjson, then `json_safe`: exact data, nothing a terminal would act on."""
    import orjson

    option |= orjson.OPT_INDENT_2 if indent else 0
    return json_safe(orjson.dumps(value, option=option).decode())


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text, never evaluates as a formula, and a
    terminal (`export --format csv` to stdout) shows literally. Line feeds stay (a
    quoted cell may hold them); other unsafe characters become visible escapes."""
    if not isinstance(value, str):
        return value
    shown = visible(value, keep_newlines=True)
    return "'" + shown if value.startswith(CSV_FORMULA_STARTS) else shown
