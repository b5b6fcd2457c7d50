"""The scoring stages and the factory that assembles them from config.

Order matters: geo fills `batch.columns["geo"]` that the compliance, velocity and
playback stages read; segments look at the reasons the detectors already gave;
the scorer then turns reasons into assessments, and sinks consume those.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ottwatch.pipeline import Pipeline, Sink, Stage

if TYPE_CHECKING:  # the config imports the stages' settings
    from ottwatch.config import Config

log = logging.getLogger("ottwatch.pipeline")


def build_pipeline(config: Config, *, scoring: bool = True) -> Pipeline:
    """The full pipeline for this config; `scoring=False` stores events only."""
    from ottwatch.alerts.service import build_alert_sink  # not with the package: the config
    # imports the stages' settings, and the console opens without the alert sink

    if not scoring:
        return Pipeline([], assess=False, sinks=[build_alert_sink(config.alerts)])
    from ottwatch.geo.setup import make_geo_stage
    from ottwatch.learning.settings import LearningSettings
    from ottwatch.learning.stage import LearningStage
    from ottwatch.regulations.stage import ComplianceStage
    from ottwatch.rings.stage import RingScoreSink, RingStage
    from ottwatch.scoring import AdaptiveScorer, ScoringSettings
    from ottwatch.stages.playback import PlaybackStage
    from ottwatch.stages.security import InputSecurityStage
    from ottwatch.stages.segments import SegmentSettings, SegmentStage
    from ottwatch.stages.velocity import VelocityStage

    geo = make_geo_stage(config)
    if not geo.lookup.enabled:
        log.warning("%s", geo.lookup.status())
    rings = RingStage.from_config(config) if config.rings.enabled else None
    stages: list[Stage] = [
        InputSecurityStage(config.security),
        geo,
        VelocityStage(config.velocity),
        PlaybackStage(config.playback),
        ComplianceStage.from_config(config),
        *([rings] if rings else []),
        SegmentStage(SegmentSettings.from_scoring(config.scoring)),
    ]
    learning = LearningSettings.from_scoring(config.scoring)
    if learning.enabled:  # last: it reads every rule's reasons, `geo` and `segment`
        stages.append(LearningStage(learning))
    sinks: list[Sink] = [*([RingScoreSink(rings)] if rings else []),
                         build_alert_sink(config.alerts)]
    return Pipeline(stages, AdaptiveScorer(ScoringSettings.from_scoring(config.scoring)),
                    sinks=sinks, persist_every_s=config.storage.state_every_s)
