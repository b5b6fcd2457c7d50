"""The registry on a real SQLite file: every version stored with its metrics,
promotion refuses a worse model, rollback restores the previous active one."""

from __future__ import annotations

import numpy as np
import pytest
from learning_streams import PlaceGeo, World
from sqlalchemy import Engine, select

from ottwatch.learning import registry
from ottwatch.learning.dataset import load_training_set
from ottwatch.learning.predictor import fit_predictor
from ottwatch.learning.runtime import handle_command
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.train import promote, retrain
from storage.operator import add_label
from storage.tables import AuditRow


def label_planted(engine: Engine, world: World, count: int = 50) -> None:
    for event_id in sorted(world.train.planted)[:count]:
        add_label(engine, event_id, "violation", who="analyst")


@pytest.mark.slow
def test_worse_models_are_refused_and_rollback_restores_the_previous(
        world_db: Engine, world: World) -> None:
    settings = LearningSettings()
    label_planted(world_db, world)
    data = load_training_set(world_db, settings=settings, context=[PlaceGeo()])
    first = retrain(world_db, "predictor", now=world.now, settings=settings, data=data)
    assert (first.status, first.version) == ("promoted", 1)
    assert first.metrics["recall"] >= 0.9 and first.metrics["roc_auc"] >= 0.95

    # A predictor that learned from the wrong events: random "violations".
    rng = np.random.default_rng(3)
    wrong = np.zeros(len(data), dtype=np.int8)
    wrong[rng.choice(len(data), 40, replace=False)] = 1
    bad = fit_predictor(data.matrix, wrong, seed=1)
    bad_version = registry.save(world_db, "predictor", bad, trained_at=world.now, samples=len(data),
                                metrics={})
    refused = promote(world_db, "predictor", bad_version, now=world.now, settings=settings,
                      data=data)
    assert not refused.promoted
    assert refused.message.startswith(f"refused: predictor v{bad_version} is worse than "
                                      "active v1: f1 ")
    assert refused.metrics["f1"] < refused.active_metrics["f1"]  # the numbers are given
    assert registry.active_versions(world_db)["predictor"] == 1
    assert registry.get(world_db, "predictor", bad_version).status == "candidate"

    again = retrain(world_db, "predictor", now=world.now + 1, settings=settings, data=data)
    assert again.status == "promoted" and again.version == 3  # not worse: promoted
    assert again.active_version == 1 and again.active_metrics is not None
    assert registry.active_versions(world_db)["predictor"] == 3
    assert registry.get(world_db, "predictor", 1).status == "retired"

    assert registry.rollback(world_db, "predictor", now=world.now + 2, actor="alice") == (3, 1)
    assert registry.active_versions(world_db)["predictor"] == 1
    assert registry.get(world_db, "predictor", 3).status == "retired"
    with pytest.raises(registry.RegistryError, match="no earlier active version"):
        registry.rollback(world_db, "predictor", now=world.now + 3)
    with world_db.connect() as conn:
        actions = conn.execute(select(AuditRow.actor, AuditRow.action, AuditRow.target)
                               .where(AuditRow.action.like("model.%"))
                               .order_by(AuditRow.id)).all()
    assert [tuple(a) for a in actions] == [
        ("ottwatch", "model.promote", "predictor v1"),
        ("ottwatch", "model.promote", "predictor v3"),
        ("alice", "model.rollback", "predictor v1"),
    ]
    stored = registry.list_models(world_db, "predictor")
    assert [m.version for m in stored] == [1, 2, 3]
    assert stored[0].features == len(registry.FEATURES) and stored[0].samples > 20_000
    assert {"precision", "recall", "f1", "roc_auc"} <= set(stored[0].metrics)


@pytest.mark.slow
def test_commands_for_the_agent_retrain_promote_and_roll_back(world_db: Engine,
                                                              world: World) -> None:
    label_planted(world_db, world, 30)
    settings = LearningSettings()
    context = lambda: [PlaceGeo()]  # noqa: E731
    done = handle_command(world_db, {"kind": "retrain", "args": {"model": "all"}},
                          settings=settings, context=context)
    assert [(r["name"], r["status"], r["version"]) for r in done["results"]] == [
        ("ensemble", "promoted", 1), ("predictor", "promoted", 1)]
    again = handle_command(world_db, {"kind": "retrain", "args": {"model": "predictor"}},
                           settings=settings, context=context)
    assert again["results"][0]["status"] == "promoted"  # the same data: not worse
    rolled = handle_command(world_db, {"kind": "rollback", "args": {"name": "predictor"}},
                            settings=settings, context=context)
    assert (rolled["from"], rolled["to"]) == (2, 1)
    promoted = handle_command(world_db, {"kind": "promote",
                                         "args": {"name": "predictor", "version": 2}},
                              settings=settings, context=context)
    assert promoted["promoted"], promoted["message"]
    assert registry.active_versions(world_db) == {"ensemble": 1, "predictor": 2}
    with pytest.raises(ValueError, match="not a learning command"):
        handle_command(world_db, {"kind": "make-coffee", "args": {}})
