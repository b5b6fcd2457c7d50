"""The product promise, measured: after operators confirm violations of a new
pattern, the next ones like it are found more surely, at no more false positives."""

from __future__ import annotations

import numpy as np
import pytest
from learning_streams import PlaceGeo, World, run_stages
from sqlalchemy import Engine

from ottwatch.learning import registry
from ottwatch.learning.features import LEARNING_CODES
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.stage import LearningStage
from ottwatch.learning.train import retrain_all
from storage.operator import add_label

pytestmark = pytest.mark.slow  # trains models over whole streams

LABELLED = 50


def detection(engine: Engine, world: World, settings: LearningSettings
              ) -> tuple[float, float, float, str]:
    """(recall on the held-out bursts' events, share of bursts caught at their first
    event, false-positive rate on held-out benign events, the stage's status) with the
    active models, after a warm-up on the training week."""
    stage = LearningStage(settings)
    versions = registry.active_versions(engine)
    models = {name: registry.load(engine, name, v) for name, v in versions.items()}
    stage.set_models(models.get("ensemble"), models.get("predictor"), versions)
    geo = PlaceGeo()
    run_stages([geo, stage], world.train.events())
    events = world.held_out.events()
    flagged = np.array([any(r.code in LEARNING_CODES for r in reasons)
                        for batch in run_stages([geo, stage], events)
                        for reasons in batch.reasons])
    planted = np.array([e.event_id in world.held_out.planted for e in events])
    first = np.array([e.event_id in world.held_out.planted and e.event_id.endswith("-0")
                      for e in events])
    return (float(flagged[planted].mean()), float(flagged[first].mean()),
            float(flagged[~planted].mean()), stage.status)


def test_labelling_a_new_pattern_makes_the_next_ones_found(world_db: Engine,
                                                           world: World) -> None:
    settings = LearningSettings()
    first = {r.name: r for r in retrain_all(world_db, now=world.now, settings=settings,
                                            context=[PlaceGeo()])}
    assert first["ensemble"].status == "promoted"
    assert first["predictor"].status == "skipped"  # nothing confirmed yet
    recall_before, first_before, fpr_before, status_before = detection(world_db, world,
                                                                       settings)

    rng = np.random.default_rng(11)
    confirmed = rng.choice(sorted(world.train.planted), LABELLED, replace=False)
    for event_id in confirmed:
        add_label(world_db, str(event_id), "violation", "export at 3 am after withdrawal",
                  who="analyst")
    second = {r.name: r for r in retrain_all(world_db, now=world.now + 60, settings=settings,
                                             context=[PlaceGeo()])}
    assert second["predictor"].status == "promoted"
    recall_after, first_after, fpr_after, status_after = detection(world_db, world, settings)

    print(f"\nnew pattern ({len(world.held_out.planted)} held-out events, "
          f"{LABELLED} labelled): recall {recall_before:.3f} -> {recall_after:.3f}, "
          f"false-positive rate {fpr_before:.5f} -> {fpr_after:.5f}; bursts caught at their "
          f"first event {first_before:.3f} -> {first_after:.3f}")
    print(f"before: {status_before}\nafter: {status_after}")
    print(f"predictor held-out metrics: {second['predictor'].metrics}")
    assert recall_after >= recall_before + 0.3
    assert recall_after >= 0.9
    assert first_after >= first_before + 0.3  # sooner: at the burst's first event
    assert fpr_after <= fpr_before
    assert "violation predictor v1" in status_after and "no violation predictor" in status_before
