"""The `filled_db` fixture: a real, migrated SQLite file and a `BatchWriter` on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from scoring_helpers import Filled

from storage import open_database
from storage.writer import BatchWriter


@pytest.fixture
def filled_db(tmp_path: Path) -> Iterator[Callable[[], Filled]]:
    """`filled_db()`: an empty, migrated SQLite file and a writer on it."""
    made: list[Filled] = []

    def make() -> Filled:
        path = tmp_path / f"scoring-{len(made)}.db"
        engine = open_database(f"sqlite:///{path}")
        made.append(Filled(path, engine, BatchWriter(engine)))
        return made[-1]

    yield make
    for filled in made:
        filled.engine.dispose()
