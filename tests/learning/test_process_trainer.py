"""The agent retrains in a child process: the ingest loop never shares the
interpreter with training, and the models the child stores reach the live stage."""

from __future__ import annotations

import os
import time

from learning_streams import PlaceGeo, World
from sqlalchemy import Engine

from agent.training import ProcessTrainer
from ottwatch.learning import registry
from ottwatch.learning.runtime import LearningRuntime
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.stage import LearningStage
from ottwatch.pipeline import Stage
from storage.operator import add_label


def place_context() -> list[Stage]:
    return [PlaceGeo()]


def test_retrain_runs_in_a_child_and_its_models_reach_the_stage(world_db: Engine,
                                                                 world: World) -> None:
    for event_id in sorted(world.train.planted)[:20]:
        add_label(world_db, event_id, "violation", who="analyst")
    stage = LearningStage(LearningSettings())
    trainer = ProcessTrainer(world_db.url.render_as_string(hide_password=False),
                             lambda: place_context)
    runtime = LearningRuntime(world_db, stage, context=place_context, trainer=trainer)

    results = runtime.retrain(["ensemble", "predictor"], "test")

    assert trainer.last_pid is not None and trainer.last_pid != os.getpid()
    assert [(r["name"], r["status"]) for r in results] == [("ensemble", "promoted"),
                                                           ("predictor", "promoted")]
    assert results[1]["metrics"]["recall"] > 0.5  # trained on the labelled violations
    assert registry.active_versions(world_db) == {"ensemble": 1, "predictor": 1}
    assert stage.versions == {"ensemble": 1, "predictor": 1}
    assert stage.ensemble is not None and stage.predictor is not None
    assert runtime.last_results == results and runtime.last_retrain <= time.time()
