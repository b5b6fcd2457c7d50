"""The agent says when a source matches no file, and again when one appears."""

from __future__ import annotations

from pathlib import Path

LINE = ('{"event_id":"e-1","timestamp":"2026-01-01T00:00:00Z","user_id":"u-1",'
        '"event_type":"login","ip":"203.0.113.7"}\n')


def test_the_agent_warns_for_a_missing_source_and_logs_when_it_appears(
        agent_process, tmp_path: Path) -> None:
    pattern = str(tmp_path / "logs" / "*.jsonl")
    agent = agent_process("--db", str(tmp_path / "a.db"), "--log-level", "info", pattern)
    agent.wait_for_log(f"WARNING ottwatch.source.file: source {pattern} matches no file yet; "
                       "waiting for it")
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "app.jsonl"
    log.write_text(LINE, encoding="utf-8")
    agent.wait_for_log(f"INFO ottwatch.source.file: source {pattern}: {log} appeared")
    assert agent.stop() == 0
    assert agent.stderr().count("matches no file yet") == 1
