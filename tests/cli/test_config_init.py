"""`ottwatch config init`: a commented config, 0600, that `ottwatch config check`
accepts as written, never overwritten without --force, and on which the agent waits
for its placeholder log instead of exiting."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from ottwatch.commands.config_init import TEMPLATE
from tests.conftest import AgentFactory, Database

Ottwatch = Callable[..., CompletedProcess[str]]
EVENT = ('{"event_id": "e1", "timestamp": "2026-11-01T08:00:00Z", "user_id": "u1", '
         '"event_type": "play", "device_id": "d1"}\n')


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_written_config_passes_check(ottwatch: Ottwatch, tmp_path: Path) -> None:
    path = tmp_path / "etc" / "ottwatch" / "ottwatch.toml"

    done = ottwatch("config", "init", str(path))

    assert done.returncode == 0, done.stderr
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    text = path.read_text(encoding="utf-8")
    assert text.count("\n#") >= 10  # commented
    assert set(tomllib.loads(text)) == {"sources", "storage", "alerts", "log"}
    check = ottwatch("config", "check", "--json", "--config", str(path))
    assert check.returncode == 0, check.stderr
    effective = json.loads(check.stdout)
    assert effective["sources"]["files"] == ["/var/log/ott/events.jsonl"]
    assert effective["storage"]["url"] == "sqlite:////var/lib/ottwatch/ottwatch.db"
    assert effective["alerts"]["urls"] == [] and effective["log"]["level"] == "info"


def test_an_existing_config_is_kept_unless_forced(ottwatch: Ottwatch, tmp_path: Path) -> None:
    path = tmp_path / "ottwatch.toml"
    path.write_text("[log]\nlevel = \"debug\"\n", encoding="utf-8")
    path.chmod(0o644)

    refused = ottwatch("config", "init", str(path))

    assert refused.returncode != 0 and "--force" in refused.stderr
    assert path.read_text(encoding="utf-8") == "[log]\nlevel = \"debug\"\n"
    forced = ottwatch("config", "init", "--force", str(path))
    assert forced.returncode == 0, forced.stderr
    assert path.read_text(encoding="utf-8") == TEMPLATE.format(path=path)
    assert mode(path) == 0o600


def test_the_default_path_is_the_system_config(ottwatch: Ottwatch) -> None:
    shown = ottwatch("config", "init", "--help")
    assert "/etc/ottwatch/ottwatch.toml" in shown.stdout


def test_the_agent_waits_for_the_placeholder_log_and_reads_it(
        ottwatch: Ottwatch, agent_process: AgentFactory, tmp_path: Path,
        open_db: type[Database]) -> None:
    config, log, db = tmp_path / "ottwatch.toml", tmp_path / "ott" / "events.jsonl", \
        tmp_path / "ottwatch.db"
    assert ottwatch("config", "init", str(config)).returncode == 0
    config.write_text(config.read_text(encoding="utf-8")
                      .replace("/var/log/ott/events.jsonl", str(log))
                      .replace("/var/lib/ottwatch/ottwatch.db", str(db)), encoding="utf-8")

    agent = agent_process(config=config)
    agent.wait_for_log("agent ready")
    log.parent.mkdir()
    log.write_text(EVENT, encoding="utf-8")

    agent.wait_for(lambda: open_db(db).count() == 1, what="the event stored")
    assert agent.stop() == 0


@pytest.mark.parametrize("section", ["sources", "storage", "alerts"])
def test_each_section_is_explained(section: str) -> None:
    _, _, after = TEMPLATE.partition(f"[{section}]\n")
    assert after.startswith("#"), f"[{section}] has no comment"
