"""The one table of the pipeline's parts: every stage, the scorer and every sink, with
its config section, its settings model and its builder.

`ottwatch.config` makes its schema from the sections named here, and
`ottwatch.pipeline_build.build_pipeline` makes the pipeline from the builders, in this order:
geo fills `batch.columns["geo"]` that the compliance, velocity and playback stages read;
segments look at the reasons the detectors already gave; learning reads every rule's
reasons, `geo` and `segment`; the scorer turns reasons into assessments; sinks consume
those. The stage modules themselves are imported by the builders only: reading the
config loads the settings models, not the pipeline (networkx, apprise, scikit-learn).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from ottwatch.alerts.settings import AlertSettings
from ottwatch.learning.settings import LearningSettings
from ottwatch.regulations.settings import RegulationSettings
from ottwatch.rings.settings import RingSettings
from ottwatch.scoring import ScoringSettings
from ottwatch.stages.playback import PlaybackSettings
from ottwatch.stages.security import SecuritySettings
from ottwatch.stages.segments import SegmentSettings
from ottwatch.stages.velocity import VelocitySettings

if TYPE_CHECKING:
    from ottwatch.config import Config

log = logging.getLogger("ottwatch.pipeline")

Kind = Literal["stage", "scorer", "sink"]
# (the config, the parts built so far by name) -> the part, or None when switched off
Builder = Callable[["Config", dict[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class PartSpec:
    name: str
    section: str  # dotted for a sub-table: "scoring.learning"
    settings: type[BaseModel]
    build: Builder
    kind: Kind = "stage"


def section_value(config: Any, section: str) -> Any:
    """`config.scoring.learning` for "scoring.learning"."""
    value = config
    for name in section.split("."):
        value = getattr(value, name)
    return value


def _security(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.stages.security import InputSecurityStage

    return InputSecurityStage(config.security)


def _geo(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.geo.setup import make_geo_stage

    geo = make_geo_stage(config)
    if not geo.lookup.enabled:
        log.warning("%s", geo.lookup.status())
    return geo


def _velocity(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.stages.velocity import VelocityStage

    return VelocityStage(config.velocity)


def _playback(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.stages.playback import PlaybackStage

    return PlaybackStage(config.playback)


def _compliance(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.regulations.stage import ComplianceStage

    return ComplianceStage.from_config(config)


def _rings(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.rings.stage import RingStage

    return RingStage(config.rings) if config.rings.enabled else None


def _segments(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.stages.segments import SegmentStage

    return SegmentStage(config.scoring.segments)


def _learning(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.learning.stage import LearningStage

    settings = config.scoring.learning
    return LearningStage(settings) if settings.enabled else None


def _scorer(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.scoring import AdaptiveScorer

    return AdaptiveScorer(config.scoring)


def _ring_scores(_config: Config, built: dict[str, Any]) -> Any:
    from ottwatch.rings.stage import RingScoreSink

    return RingScoreSink(built["rings"]) if "rings" in built else None


def _alerts(config: Config, _built: dict[str, Any]) -> Any:
    from ottwatch.alerts.service import build_alert_sink

    return build_alert_sink(config.alerts)


def _geo_settings() -> type[BaseModel]:
    from ottwatch.config import GeoConfig  # the geo stage's settings beside its paths

    return GeoConfig


PARTS: tuple[PartSpec, ...] = (
    PartSpec("input_security", "security", SecuritySettings, _security),
    PartSpec("geo", "geo", _geo_settings(), _geo),
    PartSpec("velocity", "velocity", VelocitySettings, _velocity),
    PartSpec("playback", "playback", PlaybackSettings, _playback),
    PartSpec("compliance", "regulations", RegulationSettings, _compliance),
    PartSpec("rings", "rings", RingSettings, _rings),
    PartSpec("segments", "scoring.segments", SegmentSettings, _segments),
    PartSpec("learning", "scoring.learning", LearningSettings, _learning),
    PartSpec("thresholds", "scoring", ScoringSettings, _scorer, "scorer"),
    PartSpec("rings.scores", "rings", RingSettings, _ring_scores, "sink"),
    PartSpec("alerts", "alerts", AlertSettings, _alerts, "sink"),
)


def part_sections() -> dict[str, type[BaseModel]]:
    """Config section -> settings model, in pipeline order, each section once."""
    sections: dict[str, type[BaseModel]] = {}
    for part in PARTS:
        known = sections.setdefault(part.section, part.settings)
        if known is not part.settings:
            raise TypeError(f"[{part.section}] is given two settings models")
    return sections


def shadow_stages(config: Any) -> set[str]:
    """The names of the stages whose section says `mode = "shadow"`."""
    return {part.name for part in PARTS if part.kind == "stage"
            and getattr(section_value(config, part.section), "mode", "active") == "shadow"}
