"""Files ottwatch creates hold personal data: owner-only, whatever umask it inherits."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fixtures.generator import write_log

PERMISSIVE_UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_agent_database_wal_and_shm_are_0600(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    log = tmp_path / "app.jsonl"
    write_log(log, 2000, seed=61, users=50)
    db = open_db(tmp_path / "state" / "ottwatch" / "agent.db")  # folders not there yet
    agent = agent_process(str(log), "--db", str(db.path), umask=PERMISSIVE_UMASK)
    agent.wait_for(lambda: db.count() == 2000, what="the events")
    wal, shm = Path(f"{db.path}-wal"), Path(f"{db.path}-shm")
    assert wal.exists() and shm.exists(), "WAL mode while the agent runs"
    assert {p.name: oct(mode(p)) for p in (db.path, wal, shm)} == {
        p.name: "0o600" for p in (db.path, wal, shm)}
    assert oct(mode(db.path.parent)) == "0o700"
    assert oct(mode(db.path.parent.parent)) == "0o700"
    assert agent.stop() == 0


def test_replay_database_is_0600(
        tmp_path: Path, ottwatch: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    log = tmp_path / "app.jsonl"
    write_log(log, 500, seed=62, users=20)
    db = tmp_path / "replay.db"
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")
    done = ottwatch("replay", str(log), "--db", str(db), "--config", str(config), "--quiet",
                    umask=PERMISSIVE_UMASK)
    assert done.returncode == 0, done.stderr
    assert oct(mode(db)) == "0o600"
