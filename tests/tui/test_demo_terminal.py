"""`ottwatch demo` on a real terminal: the console opens on the tailed log, and the
summary's throughput counts the time the agent took to read the log, not the time the
console stayed open afterwards."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, poll_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
OPEN_S = 8.0  # the console stays open this long after the log was read


def test_demo_throughput_excludes_the_time_the_console_was_open(tmp_path: Path) -> None:
    session = f"ottwatch-demo-{uuid.uuid4().hex[:8]}"
    command = (f"cd {REPO} && {sys.executable} -m ottwatch demo -n 1500 --rate 20000 "
               f"--dir {tmp_path / 'demo'}; echo DEMO-EXITED-$?; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    command], check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-S", "-60", "-t", session],
                              check=True, capture_output=True, text=True).stdout

    try:
        poll_until(lambda: "scored events" in screen(), 90, what="the demo's console")
        time.sleep(OPEN_S)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        def exited() -> str | None:
            shown = screen()
            return shown if "DEMO-EXITED-0" in shown else None

        final = poll_until(exited, 60, what="the demo's summary")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    elapsed = float(re.search(r"elapsed\s+│\s+([\d.]+) s", final).group(1))
    assert elapsed < OPEN_S, final
    assert re.search(r"rings:\s+\d+ found", final), final
