from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_server import find_bindir, postgres_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if find_bindir() is None:
        pytest.skip("PostgreSQL is not installed (.ci/run installs it)")
    with postgres_server() as url:
        yield url
