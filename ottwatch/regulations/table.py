"""The regulation table: shipped as data (`ottwatch/data/regulations.toml`), merged
with the operator's overrides, and the mapping from regions to regulations."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from pydantic import ValidationError

from ottwatch.regions import EU_EEA, normalise_region
from ottwatch.regulations.model import DEADLINE_KINDS, Deadline, Regulation
from ottwatch.regulations.settings import RegulationSettings

DATA_FILE = "data/regulations.toml"
EU = "EU"
_SCOPE_CACHE_LIMIT = 8192

Scope = tuple[Regulation, ...]


class RegulationTableError(ValueError):
    """An override that does not make a valid regulation; the message says which."""


@cache
def shipped_rows() -> tuple[dict[str, Any], ...]:
    """The rows as shipped, plain data (read once)."""
    text = files("ottwatch").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return tuple(tomllib.loads(text)["regulation"])


def merge_override(row: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `row`: figures merge field by field; a new number in a deadline
    replaces the row's (hours or days) and is marked as the operator's."""
    merged = dict(row)
    for name, value in override.items():
        base = merged.get(name)
        if isinstance(value, dict) and isinstance(base, dict):
            figure = dict(base)
            if name in DEADLINE_KINDS and ("hours" in value or "days" in value):
                figure.pop("hours", None)
                figure.pop("days", None)
                figure.update(tool_default=False, overridden=True)
            figure.update(value)
            merged[name] = figure
        else:
            merged[name] = value
    return merged


def build_regulations(overrides: dict[str, dict[str, Any]] | None = None) -> list[Regulation]:
    overrides = {key.upper(): value for key, value in (overrides or {}).items()}
    rows = [dict(row) for row in shipped_rows()]
    known = {row["id"] for row in rows}
    rows += [{"id": key} for key in overrides if key not in known]
    out = []
    for row in rows:
        override = overrides.get(row["id"])
        if override is not None:
            row = merge_override(row, override)
        try:
            out.append(Regulation.model_validate(row))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '-'}: {err['msg']}"
                for err in exc.errors())
            raise RegulationTableError(f"regulation {row['id']}: {problems}") from exc
    return out


def _region_keys(code: str | None) -> tuple[str, ...]:
    """The table keys a region or IP location matches: `DE-BY` -> (`DE-BY`, `DE`, `EU`)."""
    if not code:
        return ()
    region = normalise_region(code)
    if region is None:
        return ()
    if region == EU:
        return (EU,)
    country = region.split("-", 1)[0]
    keys = (region,) if region == country else (region, country)
    return (*keys, EU) if country in EU_EEA else keys


class RegulationTable:
    """The effective table (shipped rows + overrides) with a cached region lookup."""

    def __init__(self, regulations: Iterable[Regulation]) -> None:
        self.regulations: tuple[Regulation, ...] = tuple(regulations)
        self.by_id = {r.id: r for r in self.regulations}
        self._by_key: dict[str, list[Regulation]] = {}
        for regulation in self.regulations:
            for region in regulation.regions:
                self._by_key.setdefault(region, []).append(regulation)
        self._scopes: dict[tuple[str | None, str | None], Scope] = {}

    @classmethod
    def load(cls, settings: RegulationSettings | None = None) -> RegulationTable:
        return cls(build_regulations(settings.overrides if settings else None))

    def __iter__(self) -> Iterator[Regulation]:
        return iter(self.regulations)

    def __len__(self) -> int:
        return len(self.regulations)

    def __getitem__(self, regulation_id: str) -> Regulation:
        return self.by_id[regulation_id]

    def scope(self, region: str | None, ip_country: str | None) -> Scope:
        """Regulations in scope for a claimed region and an IP location (a country,
        optionally `US-CA` style), in table order. Both count when they disagree."""
        key = (region, ip_country)
        found = self._scopes.get(key)
        if found is None:
            if len(self._scopes) >= _SCOPE_CACHE_LIMIT:
                self._scopes.clear()
            wanted = {r.id for code in (region, ip_country) for k in _region_keys(code)
                      for r in self._by_key.get(k, ())}
            found = tuple(r for r in self.regulations if r.id in wanted)
            self._scopes[key] = found
        return found

    def regulations_for(self, region: str | None, ip_country: str | None) -> list[Regulation]:
        return list(self.scope(region, ip_country))


def strictest(scope: Sequence[Regulation], kind: str) -> tuple[Regulation, Deadline]:
    """The regulation with the shortest `kind` deadline (the first in table order on a tie)."""
    if not scope:
        raise ValueError("no regulation in scope")
    best = min(scope, key=lambda r: r.deadline(kind).seconds)
    return best, best.deadline(kind)


@cache
def default_table() -> RegulationTable:
    return RegulationTable.load()


def load_table(settings: RegulationSettings | None = None) -> RegulationTable:
    if settings is None or not settings.overrides:
        return default_table()
    return RegulationTable.load(settings)


def regulations_for(region: str | None, ip_country: str | None) -> list[Regulation]:
    """The shipped table's regulations for a claimed region and an IP country:
    `EU` or any EU/EEA country -> GDPR; `UK`/`GB` -> UK_GDPR; `US-CA` -> CCPA (`US`
    alone is not enough); a claim and an IP country that disagree -> both."""
    return default_table().regulations_for(region, ip_country)
