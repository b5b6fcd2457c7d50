"""Config mistakes, one line each: `file:line: [section] key: message (did you mean …?)`.

A `Problem` is located by its path in the config (as pydantic locates errors);
`render` finds the path's line in the TOML text (`ottwatch.toml_lines`) and names the
section the key is in (`[scoring.learning]`, not `[scoring]`, for a sub-table).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ottwatch.toml_lines import key_lines, line_of

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc
    message: str
    did_you_mean: str | None = None


def closest(word: str, candidates: Collection[str]) -> str | None:
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The settings model that validates the table at `loc` (list indexes and the keys
    of a table of tables skipped)."""
    current: type[BaseModel] | None = model
    keyed = False
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        if current is None or (field := current.model_fields.get(part)) is None:
            return None
        current = _model_in(field.annotation)
        keyed = get_origin(field.annotation) is dict
    return current


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def from_validation(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        loc = tuple(item["loc"])
        if item["type"] == "extra_forbidden":
            table = model_at(model, loc[:-1])
            known = table.model_fields if table is not None else ()
            problems.append(Problem(loc, "unknown key", closest(str(loc[-1]), known)))
        else:
            problems.append(Problem(loc, item["msg"].removeprefix("Value error, ")))
    return problems


def render(problems: Sequence[Problem], where: str, text: str,
           sections: Collection[str]) -> list[str]:
    """One line per problem, in the order of the file."""
    lines = key_lines(text)
    out = []
    for problem in problems:
        line = line_of(lines, problem.loc)
        place = f"{where}:{line}" if line is not None else where
        section, key = _split(problem.loc, sections)
        head = f"[{section}] {key}" if key else f"[{section}]"
        hint = f" (did you mean {problem.did_you_mean}?)" if problem.did_you_mean else ""
        out.append((line or 0, f"{place}: {head}: {problem.message}{hint}"))
    return [text for _line, text in sorted(out, key=lambda item: item[0])]


def _split(loc: Loc, sections: Collection[str]) -> tuple[str, str]:
    """("scoring", "learning", "anomaly_cutt") -> ("scoring.learning", "anomaly_cutt");
    list indexes are shown as such: ("alerts", "overrides[0].hgh")."""
    cut = 1
    while cut < len(loc) and ".".join(map(str, loc[:cut + 1])) in sections:
        cut += 1
    key = ""
    for part in loc[cut:]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return ".".join(map(str, loc[:cut])), key
