"""A database the reports read: a realistic log (shared addresses, travellers, requests
under several regulations, attackers) replayed by the real `ottwatch replay`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    log, db = folder / "events.jsonl", folder / "replay.db"
    for args in (["fixtures", "generate", "--users", "900", "--days", "40", "--seed", "3",
                  str(log)], ["replay", "-q", "--db", str(db), str(log)]):
        subprocess.run([sys.executable, "-m", "ottwatch", *args], cwd=REPO, check=True,
                       capture_output=True, timeout=600)
    return db
