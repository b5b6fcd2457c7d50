"""Fixture GeoIP databases (built once per session), anonymizer lists and configs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.geo import anonymizer_list_path, build_databases
from ottwatch.geo import lookup as lookup_module
from ottwatch.geo.anonymizers import AnonymizerSet
from ottwatch.geo.lookup import GeoLookup


@pytest.fixture(autouse=True)
def no_system_geoip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Discovery never looks at the machine's own GeoIP folders during the tests."""
    monkeypatch.setattr(lookup_module, "SEARCH_DIRS", ())


@pytest.fixture(scope="session")
def geo_dbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_databases(tmp_path_factory.mktemp("geoip"))


@pytest.fixture
def geo_lookup(geo_dbs: dict[str, Path]) -> Iterator[GeoLookup]:
    with GeoLookup(geo_dbs["city"], geo_dbs["asn"], geo_dbs["anonymous"]) as lookup:
        yield lookup


@pytest.fixture
def anonymizer_file(tmp_path: Path) -> Path:
    """A private copy of fixtures/anonymizers.txt that a test may change."""
    return Path(shutil.copy(anonymizer_list_path(), tmp_path / "anonymizers.txt"))


@pytest.fixture
def anonymizers(anonymizer_file: Path) -> AnonymizerSet:
    return AnonymizerSet([anonymizer_file])
