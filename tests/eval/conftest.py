"""`ottwatch eval` run once per session as a real subprocess on small realistic seeds;
the CLI and floors tests read its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# Small enough for a test (about 97,000 events over the three seeds), big enough that
# every incident kind is planted at least twice, and long enough (over 32 days) for a
# late fulfilment to fall within the span.
SMALL = ("--seeds", "1,2,3", "--users", "400", "--days", "45")
EVAL_TIMEOUT_S = 600


def run_eval(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OTTWATCH_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "ottwatch", "eval", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=EVAL_TIMEOUT_S, check=False)


@pytest.fixture(scope="session")
def small_eval(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """The JSON of `ottwatch eval` on the small seeds, and the folder its --db went to."""
    folder = tmp_path_factory.mktemp("eval")
    done = run_eval(*SMALL, "--json", "--db", str(folder / "eval.db"), cwd=folder)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), folder
