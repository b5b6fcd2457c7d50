"""Retraining in a child process, so the agent keeps ingesting at full speed.

Building the training set and fitting are mostly Python; in the scheduler's thread
they would share the interpreter lock with the ingest loop (a third of its rate
gone for the length of a retrain). A child process, started fresh for each
retrain and run at a lower CPU priority, trains on the sample the agent hands it
and stores the new versions in the registry; the agent then loads them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from typing import Any

from ottwatch.learning.reservoir import Sample
from ottwatch.learning.settings import LearningSettings
from ottwatch.learning.train import retrain_all
from ottwatch.pipeline import Stage
from storage.engine import make_engine

log = logging.getLogger("ottwatch.learning")
NICENESS = 10  # on a busy single core, ingestion goes first


ContextFactory = Callable[[], Sequence[Stage]]


class ProcessTrainer:
    """`trainer(names, now=, settings=, sample=, actor=)` -> the results as dicts.
    `context()` is asked at each retrain (the config may have been reloaded) for the
    child's context-stage factory, which must be picklable (a module-level function
    or a partial of one)."""

    def __init__(self, url: str, context: Callable[[], ContextFactory]) -> None:
        self.url = url
        self.context = context
        self.last_pid: int | None = None

    def __call__(self, names: Sequence[str], *, now: float, settings: LearningSettings,
                 sample: Sample | None, actor: str) -> list[dict[str, Any]]:
        spawn = multiprocessing.get_context("spawn")  # no copy of the agent's threads
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            pid, results = pool.submit(_retrain, self.url, self.context(), list(names), now,
                                       settings, sample, actor).result()
        self.last_pid = pid
        log.info("learning: trained in process %d", pid)
        return results


def _retrain(url: str, context: ContextFactory, names: list[str], now: float,
             settings: LearningSettings, sample: Sample | None, actor: str
             ) -> tuple[int, list[dict[str, Any]]]:
    with suppress(OSError):  # not permitted here: train at the same priority
        os.nice(NICENESS)
    engine = make_engine(url)
    try:
        results = retrain_all(engine, names, now=now, settings=settings, context=context(),
                              sample=sample, actor=actor)
    finally:
        engine.dispose()
    return os.getpid(), [result.to_dict() for result in results]
