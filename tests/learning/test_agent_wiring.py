"""The learning stage inside the agent's real pipeline (every rule stage before it),
wired as the agent will wire it: models trained from a replayed log reach the
stage, its reasons are stored with the assessments, its state survives a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from learning_streams import planted_stream
from sqlalchemy import select

from agent.assembly import make_agent
from agent.sources.recorded import RecordedSource
from fixtures.generator import StreamGenerator
from ottwatch.clock import EventClock
from ottwatch.config import load_config
from ottwatch.learning.context import context_stages
from ottwatch.learning.features import PREDICTION_CODE
from ottwatch.learning.stage import LearningStage
from ottwatch.learning.train import retrain_all
from storage import open_database
from storage.operator import add_label
from storage.tables import AssessmentRow


def replay(config_path: Path, log: Path) -> LearningStage:
    """A replay through `make_agent`: the learning stage last, its state restored and
    the active models loaded before the first batch."""
    config = load_config(config_path)
    engine = open_database(config.storage.url)
    source = RecordedSource([str(log)], max_line=config.ingest.max_line_bytes,
                            head=config.ingest.quarantine_raw_bytes)
    agent = make_agent(config, engine, [source], EventClock(), checkpoint=False)
    stage = agent.pipeline.handles.learning
    assert stage is not None and agent.pipeline.stage_names[-1] == "learning"
    asyncio.run(agent.run())
    engine.dispose()
    return stage


def test_models_trained_from_the_database_score_in_the_agent(tmp_path: Path) -> None:
    generator = StreamGenerator(seed=33, users=300, rate_per_s=0.05)
    first = planted_stream(generator, 6000, 10, seed=5, users=generator.users[:10], tag="w")
    second = planted_stream(generator, 5000, 8, seed=6, users=generator.users[50:58], tag="x")
    config_path = tmp_path / "ottwatch.toml"
    config_path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "a.db"}"\n\n'
                           "[scoring.learning]\nmin_samples = 500\nmin_positives = 5\n")
    config = load_config(config_path)

    cold = replay(config_path, first.write(tmp_path / "first.jsonl"))
    assert cold.status.startswith("cold start: rules only until 500 samples")
    engine = open_database(config.storage.url)
    for event_id in sorted(first.planted):
        add_label(engine, event_id, "violation", who="analyst")
    results = retrain_all(engine, now=1.0, settings=config.scoring.learning,
                          context=context_stages(config))
    assert [r.status for r in results] == ["promoted", "promoted"]
    assert {s.name for s in context_stages(config)} == {"geo", "segments"}

    warm = replay(config_path, second.write(tmp_path / "second.jsonl"))
    assert warm.versions == {"ensemble": 1, "predictor": 1}
    assert warm.reservoir.seen == len(first.records) + len(second.records)  # restored
    with engine.connect() as conn:
        rows = conn.execute(select(AssessmentRow.event_id, AssessmentRow.reasons)).all()
    flagged = {e for e, reasons in rows if any(r["code"] == PREDICTION_CODE for r in reasons)}
    found = flagged & second.planted
    print(f"\nin the agent: {len(found)}/{len(second.planted)} new bursts' events flagged "
          f"{PREDICTION_CODE}, {len(flagged - second.planted)} other events")
    assert len(found) >= 0.8 * len(second.planted)
    assert len(flagged - second.planted - first.planted) <= 0.002 * len(rows)
    agent_stage = make_agent(config, engine, [], EventClock()).pipeline.handles.learning
    assert agent_stage is not None and agent_stage.versions == {"ensemble": 1, "predictor": 1}
    engine.dispose()
