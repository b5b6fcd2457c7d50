"""The scoring stages and the factory that assembles them from config."""

from __future__ import annotations

from ottwatch.config import Config
from ottwatch.findings import FindingsRecorder
from ottwatch.pipeline import Pipeline


def build_pipeline(config: Config, *, scoring: bool = True) -> Pipeline:
    """The full pipeline for this config; `scoring=False` stores events only."""
    if not scoring:
        return Pipeline([], assess=False, sinks=[FindingsRecorder()])
    return Pipeline([], sinks=[FindingsRecorder()])
