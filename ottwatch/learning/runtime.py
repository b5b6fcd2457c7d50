"""The learning loop inside the agent (the I/O side of the learning stage):
load the active models into the stage, record drift reports, retrain when a
trigger fires (enough new confirmed outcomes, the cron schedule, or a command),
and answer `retrain` / `promote` / `rollback` commands.

`tick` is meant for the agent's scheduler (a worker thread, every
`check_interval_s`); training then runs in that thread, never on the ingest path,
or, with a `trainer` (the agent's runs it in a child process), wherever the
trainer runs it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, select

from ottwatch.learning import registry
from ottwatch.learning.dataset import ASSESSMENTS, LABELS
from ottwatch.learning.features import LEARNING_CODES
from ottwatch.learning.schedule import CronSchedule
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.stage import LearningStage
from ottwatch.learning.train import MODEL_NAMES, promote, retrain_all
from ottwatch.pipeline import Stage
from storage.tables import ModelRow

log = logging.getLogger("ottwatch.learning")
MODELS = ModelRow.__table__
COMMAND_KINDS = ("retrain", "promote", "rollback")
# (names, now=, settings=, sample=, actor=) -> RetrainResult dicts
Trainer = Callable[..., list[dict[str, Any]]]


def _names(value: object) -> list[str]:
    if value in (None, "", "all"):
        return list(MODEL_NAMES)
    if value not in MODEL_NAMES:
        raise registry.RegistryError(f"model is one of {', '.join(MODEL_NAMES)} or all")
    return [str(value)]


def new_outcomes(engine: Engine, since: float) -> int:
    """Labels written, and rule blocks assessed, after `since`."""
    with engine.connect() as conn:
        labels = conn.execute(select(func.count()).select_from(LABELS)
                              .where(LABELS.c.created_at > since)).scalar_one()
        blocks = conn.execute(select(func.count()).select_from(ASSESSMENTS).where(
            ASSESSMENTS.c.decision != "allow",  # the partial index of flagged assessments
            ASSESSMENTS.c.decision == "block", ASSESSMENTS.c.ts > since,
            ASSESSMENTS.c.top_code.not_in(sorted(LEARNING_CODES)))).scalar_one()
    return int(labels) + int(blocks)


def last_trained(engine: Engine) -> float | None:
    with engine.connect() as conn:
        return conn.execute(select(func.max(MODELS.c.trained_at))).scalar()


class LearningRuntime:
    def __init__(self, engine: Engine, stage: LearningStage, *,
                 context: Callable[[], Sequence[Stage]] = tuple,
                 clock: Callable[[], float] = time.time,
                 actor: str = registry.SYSTEM_ACTOR,
                 trainer: Trainer | None = None) -> None:
        self.engine = engine
        self.trainer = trainer
        self.stage = stage
        self.settings: LearningSettings = stage.settings
        self.context = context
        self.clock = clock
        self.actor = actor
        self.schedule = CronSchedule.parse(self.settings.retrain_cron)
        now = clock()
        self.next_scheduled = self.schedule.next_after(now, self.settings.retrain_timezone)
        self.last_retrain = last_trained(engine) or now
        self.last_results: list[dict[str, Any]] = []
        self.registry_versions: dict[str, int] = {}  # what was active at the last load
        self._training = threading.Lock()  # the scheduler and a command never train at once

    # -- models -----------------------------------------------------------------------
    def load_models(self) -> dict[str, int]:
        """Hand the active models to the stage; a model that cannot be loaded (built
        on another feature version) is left out and logged."""
        loaded: dict[str, Any] = {}
        versions: dict[str, int] = {}
        self.registry_versions = registry.active_versions(self.engine)
        for name, version in self.registry_versions.items():
            try:
                loaded[name] = registry.load(self.engine, name, version)
                versions[name] = version
            except registry.RegistryError as exc:
                log.warning("%s v%d not loaded: %s", name, version, exc)
        self.stage.set_models(loaded.get("ensemble"), loaded.get("predictor"), versions)
        log.info("learning: %s", self.stage.status)
        return versions

    def persist_drift(self) -> int:
        reports = self.stage.take_drift_reports()
        for report in reports:
            registry.record_drift(self.engine, report.model, report.version, report.to_dict())
        return len(reports)

    # -- triggers ---------------------------------------------------------------------
    def due(self, now: float) -> str | None:
        if now >= self.next_scheduled:
            self.next_scheduled = self.schedule.next_after(now, self.settings.retrain_timezone)
            return f"schedule {self.settings.retrain_cron!r}"
        fresh = new_outcomes(self.engine, self.last_retrain)
        if fresh >= self.settings.retrain_new_labels:
            return f"{fresh} new confirmed outcomes (>= {self.settings.retrain_new_labels})"
        return None

    def tick(self) -> dict[str, Any]:
        """Drift reports to the registry, models another process promoted into the
        stage, and a retrain when a trigger fires."""
        drift = self.persist_drift()
        if registry.active_versions(self.engine) != self.registry_versions:
            self.load_models()
        reason = self.due(self.clock())
        results = self.retrain(MODEL_NAMES, reason) if reason else []
        return {"drift_reports": drift, "retrained": reason, "results": results}

    def retrain(self, names: Sequence[str], reason: str = "on demand") -> list[dict[str, Any]]:
        with self._training:
            now = self.clock()
            self.last_retrain = now
            log.info("learning: retraining %s (%s)", ", ".join(names), reason)
            sample = self.stage.sample_rows()
            if self.trainer is not None:
                results = self.trainer(names, now=now, settings=self.settings, sample=sample,
                                       actor=self.actor)
            else:
                results = [r.to_dict() for r in retrain_all(
                    self.engine, names, now=now, settings=self.settings,
                    context=self.context(), sample=sample, actor=self.actor)]
            self.load_models()
        self.last_results = results
        for result in results:
            log.info("learning: %s: %s", result["name"], result["message"])
        return self.last_results

    # -- commands ---------------------------------------------------------------------
    def handle(self, kind: str, args: Mapping[str, Any]) -> dict[str, Any]:
        result = handle_command(self.engine, {"kind": kind, "args": dict(args)},
                                settings=self.settings, context=self.context,
                                runtime=self)
        if kind in ("promote", "rollback"):
            self.load_models()
        return result

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """`kind -> handler(args)` for the agent's command poller."""
        return {kind: (lambda args, kind=kind: self.handle(kind, args))
                for kind in COMMAND_KINDS}


def handle_command(engine: Engine, row: Mapping[str, Any] | Any, *,
                   settings: LearningSettings | None = None,
                   context: Callable[[], Sequence[Stage]] = tuple,
                   runtime: LearningRuntime | None = None) -> dict[str, Any]:
    """Run a `retrain`, `promote` or `rollback` command row (a mapping or a
    `CommandRow`) and return its result. With a runtime, retraining uses its
    stage's reservoir and the stage gets the new models."""
    kind = row["kind"] if isinstance(row, Mapping) else row.kind
    args = dict((row["args"] if isinstance(row, Mapping) else row.args) or {})
    settings = settings or LearningSettings()
    actor = str(args.get("actor") or registry.SYSTEM_ACTOR)
    now = time.time() if runtime is None else runtime.clock()
    if kind == "retrain":
        names = _names(args.get("model"))
        if runtime is not None:
            return {"results": runtime.retrain(names, "command")}
        results = retrain_all(engine, names, now=now, settings=settings, context=context(),
                              actor=actor)
        return {"results": [r.to_dict() for r in results]}
    if kind == "promote":
        outcome = promote(engine, str(args["name"]), int(args["version"]), now=now,
                          settings=settings, context=context(), actor=actor)
        return outcome.to_dict()
    if kind == "rollback":
        old, new = registry.rollback(engine, str(args["name"]), now=now, actor=actor)
        return {"name": args["name"], "from": old, "to": new,
                "message": f"{args['name']} rolled back from v{old} to v{new}"}
    raise ValueError(f"not a learning command: {kind!r} (one of {', '.join(COMMAND_KINDS)})")
