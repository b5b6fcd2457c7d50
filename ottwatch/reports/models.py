"""The models report: every version of each model, its held-out metrics and drift, and
the labels people gave in the period."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class ModelsReport:
    since: float
    until: float
    versions: list[dict[str, Any]]
    labels: dict[str, int]

    @property
    def active(self) -> dict[str, dict[str, Any]]:
        return {v["name"]: v for v in self.versions if v["status"] == "active"}

    def to_dict(self) -> dict[str, Any]:
        return {"report": "models", "since": self.since, "until": self.until,
                "versions": self.versions, "labels": self.labels}


def build_models(versions: Iterable[Mapping[str, Any]], labels: Mapping[str, int], *,
                 since: float, until: float) -> ModelsReport:
    return ModelsReport(since, until, [dict(v) for v in versions], dict(labels))
