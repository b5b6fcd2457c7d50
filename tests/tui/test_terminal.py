"""A real terminal: tmux runs `ottwatch tui` against a live agent being fed events."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, poll_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def line(n: int, user: str) -> str:
    return json.dumps({"event_id": f"{user}-{n}", "timestamp": f"2026-11-02T10:00:{n:02d}Z",
                       "user_id": user, "event_type": "play", "region": "DE",
                       "session_id": f"s-{user}", "has_consent": True}) + "\n"


def test_console_follows_a_live_agent_and_restores_the_terminal(tmp_path: Path,
                                                                 agent_process) -> None:  # noqa: ANN001
    log, db, config = tmp_path / "live.jsonl", tmp_path / "live.db", tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    log.write_text("".join(line(n, "tmux-first") for n in range(5)), encoding="utf-8")
    agent = agent_process(str(log), "--db", str(db), config=config)
    # the console refuses a database that is not there yet: the agent creates it
    poll_until(db.exists, 30, what="the agent's database")
    session = f"ottwatch-{uuid.uuid4().hex[:8]}"
    command = (f"cd {REPO} && OTTWATCH_CONFIG={config} {sys.executable} -m ottwatch tui "
               f"--db {db}; echo CONSOLE-EXITED-$?; sleep 60")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "110", "-y", "30",
                    command], check=True)

    def screen() -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], check=True,
                              capture_output=True, text=True).stdout

    try:
        poll_until(lambda: "scored events" in screen(), 60, what="the console up")
        # these plays score 0: Live opens on what scored, e shows every event
        assert "tmux-first" not in screen()
        subprocess.run(["tmux", "send-keys", "-t", session, "e"], check=True)
        poll_until(lambda: "tmux-first" in screen() and "agent up" in screen(), 60,
                   what="the console showing the first events and the agent up")
        with open(log, "a", encoding="utf-8") as out:
            out.write("".join(line(n, "tmux-later") for n in range(5, 10)))
        poll_until(lambda: "tmux-later" in screen(), 30, what="new rows arriving")
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        def exited() -> str | None:
            shown = screen()
            return shown if "CONSOLE-EXITED-0" in shown else None

        final = poll_until(exited, 30, what="the console to exit")
        assert "Pause/follow" not in final and "tmux-later" not in final  # screen restored
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert agent.stop() == 0
