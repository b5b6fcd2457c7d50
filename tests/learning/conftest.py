"""Fixtures: one seeded world (train and held-out streams) per session, stored once
in a SQLite file that each test copies."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from learning_streams import PlaceGeo, World, make_world, store
from sqlalchemy import Engine

from storage import open_database


@pytest.fixture(scope="session")
def world() -> World:
    return make_world()


@pytest.fixture(scope="session")
def stored_world(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("learning") / "world.db"
    engine = open_database(f"sqlite:///{path}")
    store(engine, world.train.events(), [PlaceGeo()])
    engine.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture
def world_db(stored_world: Path, tmp_path: Path) -> Iterator[Engine]:
    """A private copy of the stored training week."""
    path = tmp_path / "world.db"
    shutil.copy(stored_world, path)
    engine = open_database(f"sqlite:///{path}")
    yield engine
    engine.dispose()
