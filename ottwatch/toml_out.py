"""Write a config as TOML (`ottwatch config check`): sections as `[tables]`, lists of
tables as `[[arrays]]`, everything else inline. None has no TOML form: its key is left
out (a section's default then applies, which is what None means in a config read from
TOML). A small writer because the venv has none installed (tomli-w would do)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def dumps(data: Mapping[str, Any]) -> str:
    out: list[str] = []
    _table(out, (), data, header=None)
    return "\n".join(out).lstrip("\n") + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and all(
        isinstance(item, Mapping) for item in value)


def _table(out: list[str], path: tuple[str, ...], table: Mapping[str, Any],
           header: str | None) -> None:
    if header is not None:
        out.append(f"\n{header}")
    for key, value in table.items():
        if value is not None and not _is_table(value) and not _is_table_array(value):
            out.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if _is_table(value):
            sub = (*path, key)
            _table(out, sub, value, header=f"[{_dotted(sub)}]")
    for key, value in table.items():
        if _is_table_array(value):
            sub = (*path, key)
            for item in value:
                _table(out, sub, item, header=f"[[{_dotted(sub)}]]")


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_key(part) for part in path)


def _key(key: Any) -> str:
    text = str(key)
    return text if _BARE_KEY.fullmatch(text) else _string(text)


def _string(text: str) -> str:
    # JSON's escapes are TOML's; DEL is the one control character JSON leaves raw
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, list | tuple | set | frozenset):
        items_in = sorted(value) if isinstance(value, set | frozenset) else value
        return "[" + ", ".join(_value(item) for item in items_in) + "]"
    return _string(str(value))
