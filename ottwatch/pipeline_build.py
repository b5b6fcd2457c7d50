"""The factory that assembles the pipeline from the config through the one table of
parts (`ottwatch.stages.table.PARTS`, which also says their order)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from ottwatch.pipeline import Handles, Pipeline, Stage

if TYPE_CHECKING:  # the config imports the stages' settings
    from ottwatch.config import Config
    from ottwatch.stages.table import Kind, PartSpec


def _build(config: Config, kinds: Collection[Kind],
           names: Collection[str] | None = None) -> list[tuple[PartSpec, Any]]:
    """The parts of these kinds (and names) that the config switches on, in table order."""
    from ottwatch.stages.table import PARTS

    built: dict[str, Any] = {}
    for spec in PARTS:
        if spec.kind in kinds and (names is None or spec.name in names):
            part = spec.build(config, built)
            if part is not None:
                built[spec.name] = part
    return [(spec, built[spec.name]) for spec in PARTS if spec.name in built]


def build_pipeline(config: Config, *, scoring: bool = True) -> Pipeline:
    """The full pipeline for this config; `scoring=False` stores events only (the alert
    sink still raises what is not about scores)."""
    parts = _build(config, ("stage", "scorer", "sink") if scoring else ("sink",))
    by_name = {spec.name: part for spec, part in parts}
    handles = Handles(scorer=by_name.get("thresholds"), alerts=by_name.get("alerts"),
                      learning=by_name.get("learning"), rings=by_name.get("rings"))
    from ottwatch.stages.table import shadow_stages

    shadow = shadow_stages(config)
    return Pipeline([part for spec, part in parts if spec.kind == "stage"], handles.scorer,
                    assess=scoring, sinks=[part for spec, part in parts if spec.kind == "sink"],
                    persist_every_s=config.storage.state_every_s, handles=handles,
                    shadow={part.name for spec, part in parts if spec.name in shadow})


def build_stages(config: Config, names: Collection[str]) -> list[Stage]:
    """Only the named stages (those the config switches on), fresh, in pipeline order."""
    return [part for _spec, part in _build(config, ("stage",), names)]
