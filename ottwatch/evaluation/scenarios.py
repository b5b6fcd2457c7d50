"""The scenarios `ottwatch eval` judges: realistic streams it generates for given seeds,
or logs given on the command line with their labels beside them (`LOG.truth.json` from
the realistic generator, else `LOG.labels.jsonl`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ottwatch.evaluation.labels import (
    ScenarioLabels,
    labels_path,
    read_label_file,
    truth_path,
)


class ScenarioError(ValueError):
    """A scenario that cannot be judged; the message says why."""


@dataclass(frozen=True)
class Scenario:
    name: str
    log: Path
    label: Callable[[], ScenarioLabels]  # works the labels out (one pass over the log)
    seed: int | None = None


def generate(seed: int, users: int, days: float, folder: Path) -> Scenario:
    """A realistic stream for `seed` written into `folder` (log and truth, both 0600)."""
    from fixtures.realistic import StreamSpec, write_realistic_log
    from fixtures.realistic.labels import label_log

    log = folder / f"realistic-seed{seed}.jsonl"
    spec = StreamSpec(users=users, days=days, seed=seed)
    truth = write_realistic_log(log, spec, truth_path=truth_path(log))
    name = f"seed {seed} ({users:,} users, {days:g} days)"
    return Scenario(name, log, lambda: label_log(log, truth, name), seed)


def from_file(log: str | Path) -> Scenario:
    path = Path(log)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such file")
    truth, labels = truth_path(path), labels_path(path)
    if truth.is_file():
        from fixtures.realistic.labels import label_log

        return Scenario(path.name, path, lambda: label_log(path, None, path.name))
    if labels.is_file():
        return Scenario(path.name, path, lambda: read_label_file(labels, path.name))
    raise ScenarioError(f"{path}: no labels beside it (expected {truth.name} from the "
                        f"realistic generator, or {labels.name})")
