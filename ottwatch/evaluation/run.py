"""Replay each scenario into its own new database, read the results back and judge
them against the scenario's labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ottwatch.config import Config
from ottwatch.evaluation.judge import Judgement, judge
from ottwatch.evaluation.replay import replay_into
from ottwatch.evaluation.results import read_results
from ottwatch.evaluation.scenarios import Scenario


def database_for(index: int, count: int, db: Path | None, folder: Path) -> Path:
    """`db` itself for one scenario, `db` numbered (`eval.1.db`) for several, or a file
    in the temporary `folder`."""
    if db is None:
        return folder / f"scenario-{index + 1}.db"
    if count == 1:
        return db
    return db.with_name(f"{db.stem}.{index + 1}{db.suffix}")


def evaluate(scenario: Scenario, config: Config, db: Path) -> Judgement:
    from ottwatch.commands.common import db_url
    from storage import make_engine

    labels = scenario.label()
    replay_into(config, scenario.log, db)
    engine = make_engine(db_url(str(db)), pool=False)
    try:
        results = read_results(engine)
    finally:
        engine.dispose()
    judgement = judge(labels, results)
    judgement.seed = scenario.seed
    # a generated log lives in a temporary folder, removed once judged
    judgement.log = None if scenario.seed is not None else str(scenario.log)
    return judgement


def evaluate_all(scenarios: list[Scenario], config: Config, db: Path | None, folder: Path,
                 progress: Callable[[str], None] = lambda _: None) -> list[Judgement]:
    out = []
    for index, scenario in enumerate(scenarios):
        progress(f"replaying {scenario.name}")
        out.append(evaluate(scenario, config, database_for(index, len(scenarios), db, folder)))
    return out
