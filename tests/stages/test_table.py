"""The pipeline is built from the one table of parts and hands out its parts by name."""

from __future__ import annotations

from ottwatch.alerts.sink import AlertSink
from ottwatch.config import config_model
from ottwatch.learning.context import context_stages
from ottwatch.learning.stage import LearningStage
from ottwatch.pipeline_build import build_pipeline
from ottwatch.scoring import AdaptiveScorer
from ottwatch.stages.table import PARTS


def test_the_pipeline_is_the_table_in_order_and_hands_out_its_parts() -> None:
    config = config_model()()
    pipeline = build_pipeline(config)
    assert pipeline.stage_names == [p.name for p in PARTS if p.kind == "stage"]
    assert [s.name for s in pipeline.sinks] == [p.name for p in PARTS if p.kind == "sink"]
    handles = pipeline.handles
    assert isinstance(handles.alerts, AlertSink) and handles.alerts in pipeline.sinks
    assert isinstance(handles.learning, LearningStage) and handles.learning in pipeline.stages
    assert isinstance(handles.scorer, AdaptiveScorer) and handles.scorer is pipeline.scorer
    # each part gets its own section of the config
    assert handles.learning.settings is config.scoring.learning
    assert handles.alerts.settings is config.alerts


def test_parts_switched_off_are_neither_built_nor_handed_out() -> None:
    config = config_model().model_validate({"scoring": {"learning": {"enabled": False}},
                                            "rings": {"enabled": False}})
    pipeline = build_pipeline(config)
    assert pipeline.handles.learning is None
    assert "learning" not in pipeline.stage_names and "rings" not in pipeline.stage_names
    assert [s.name for s in pipeline.sinks] == ["alerts"]
    events_only = build_pipeline(config_model()(), scoring=False)
    assert events_only.stages == [] and events_only.handles.scorer is None
    assert events_only.handles.alerts is not None and not events_only.assess


def test_the_learning_context_builds_only_its_stages() -> None:
    assert [s.name for s in context_stages(config_model()())] == ["geo", "segments"]
