"""Log lines for journald and collectors: syslog priority prefixes and no timestamp when
stderr is the journal stream of `$JOURNAL_STREAM`, one JSON object per line with
`--log-format json`, and otherwise text with a UTC timestamp that names its zone.
Secrets stay masked in every format."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import pytest

from ottwatch.logs import choose_log_format, setup_logging
from tests.conftest import AgentFactory, run_ottwatch

SECRET = "s3cr3tT0ken4711"
HOOK = f"https://hooks.example.com/services/T0/B0?token={SECRET}"
OPEN_STREAMS: dict[Path, TextIO] = {}
UTC_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def stderr_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A file to be sys.stderr (`to_file`, in the test: pytest sets its own between
    setup and call); the root logger's handlers are restored afterwards."""
    path = tmp_path / "stderr"
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    with open(path, "a", encoding="utf-8") as stream:
        OPEN_STREAMS[path] = stream
        yield path
    del OPEN_STREAMS[path]
    choose_log_format("auto")
    root.handlers[:] = handlers
    root.setLevel(level)


def to_file(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", OPEN_STREAMS[path])


def journal_stream_of(path: Path) -> str:
    stat = os.stat(path)
    return f"{stat.st_dev}:{stat.st_ino}"


def emit_every_level() -> None:
    log = logging.getLogger("ottwatch.test")
    log.debug("debug line")
    log.info("info line")
    log.warning("posting to %s", HOOK)
    try:
        raise RuntimeError(f"failed on {HOOK}")
    except RuntimeError:
        log.exception("send failed")
    sys.stderr.flush()


def test_on_the_journal_stream_every_line_has_its_priority_and_no_timestamp(
        stderr_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", journal_stream_of(stderr_file))
    to_file(stderr_file, monkeypatch)
    setup_logging("debug")
    emit_every_level()

    lines = stderr_file.read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["<7>DEBUG ottwatch.test: debug line",
                         "<6>INFO ottwatch.test: info line",
                         "<4>WARNING ottwatch.test: posting to "
                         "https://hooks.example.com/services/T0/B0?token=***"]
    assert lines[3] == "<3>ERROR ottwatch.test: send failed"
    traceback = lines[4:]
    assert traceback[0] == "<3>Traceback (most recent call last):"
    assert all(line.startswith("<3>") for line in traceback)  # one journal entry per line
    assert SECRET not in "\n".join(lines)


def test_a_journal_stream_that_is_not_our_stderr_gives_text(
        stderr_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    other.touch()
    monkeypatch.setenv("JOURNAL_STREAM", journal_stream_of(other))  # inherited, redirected
    to_file(stderr_file, monkeypatch)
    setup_logging("info")
    logging.getLogger("ottwatch.test").info("info line")
    sys.stderr.flush()

    stamp, level, rest = stderr_file.read_text(encoding="utf-8").split(" ", 2)
    assert UTC_STAMP.match(stamp) and (level, rest) == ("INFO", "ottwatch.test: info line\n")


def test_text_timestamps_are_utc_whatever_the_local_zone(
        stderr_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    to_file(stderr_file, monkeypatch)
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no daylight saving
    time.tzset()
    try:
        before = datetime.now(UTC)
        setup_logging("info", "text")
        logging.getLogger("ottwatch.test").info("info line")
        sys.stderr.flush()
        after = datetime.now(UTC)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()

    stamp = stderr_file.read_text(encoding="utf-8").split(" ", 1)[0]
    assert UTC_STAMP.match(stamp)
    logged = datetime.fromisoformat(stamp)
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= logged <= after


def test_json_is_one_object_per_record_secrets_masked(
        stderr_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    to_file(stderr_file, monkeypatch)
    choose_log_format("json")  # as `ottwatch --log-format json` does
    before = datetime.now(UTC).replace(microsecond=0)
    setup_logging("debug")
    emit_every_level()

    text = stderr_file.read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("debug", "ottwatch.test", "debug line"), ("info", "ottwatch.test", "info line"),
        ("warning", "ottwatch.test",
         "posting to https://hooks.example.com/services/T0/B0?token=***"),
        ("error", "ottwatch.test", "send failed")]
    assert all(UTC_STAMP.match(r["ts"]) and datetime.fromisoformat(r["ts"]) >= before
               for r in records)
    assert records[3]["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: failed on https://hooks.example.com" in records[3]["exception"]
    assert SECRET not in text


def info_config(tmp_path: Path) -> Path:
    config = tmp_path / "ottwatch.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "a.db"}"\n\n'
                      f'[sources]\nfiles = ["{tmp_path / "events.jsonl"}"]\n\n'
                      '[log]\nlevel = "info"\n', encoding="utf-8")
    return config


def test_the_agent_on_the_journal_stream_keeps_its_priorities_across_a_reload(
        agent_process: AgentFactory, tmp_path: Path) -> None:
    stderr = tmp_path / "agent-1.stderr"  # AgentProcess truncates it: same inode
    stderr.touch()
    agent = agent_process(config=info_config(tmp_path),
                          env={"JOURNAL_STREAM": journal_stream_of(stderr)})
    agent.wait_for_log("agent ready")
    agent.signal(signal.SIGHUP)
    agent.wait_for_log("configuration reloaded")
    assert agent.stop() == 0

    lines = agent.stderr().splitlines()
    assert f"<6>INFO ottwatch.agent: agent ready (pid {agent.pid})" in lines
    assert "<4>WARNING ottwatch.agent: SIGHUP: configuration reloaded" in lines
    assert "<4>WARNING ottwatch.agent: SIGTERM: draining and stopping" in lines
    assert all(re.match(r"<[0-7]>", line) for line in lines), lines


def test_the_agent_logs_json_with_the_option_and_after_a_reload(
        agent_process: AgentFactory, tmp_path: Path) -> None:
    agent = agent_process(config=info_config(tmp_path), env={"OTTWATCH_LOG_FORMAT": "json"})
    agent.wait_for_log("agent ready")
    agent.signal(signal.SIGHUP)
    agent.wait_for_log("configuration reloaded")
    assert agent.stop() == 0

    records = [json.loads(line) for line in agent.stderr().splitlines()]
    messages = {(r["level"], r["logger"], r["message"]) for r in records}
    assert ("info", "ottwatch.agent", f"agent ready (pid {agent.pid})") in messages
    assert ("warning", "ottwatch.agent", "SIGHUP: configuration reloaded") in messages
    assert all(UTC_STAMP.match(r["ts"]) for r in records)


def test_the_option_applies_to_every_command(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "e1", "timestamp": "2026-11-01T08:00:00Z", '
                      '"user_id": "u1", "event_type": "play", "device_id": "d1"}\n')
    done = run_ottwatch("--log-format", "json", "replay", "--config", str(info_config(tmp_path)),
                        "--db", str(tmp_path / "r.db"), str(events))

    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert ("info", "ottwatch.learning") in {(r["level"], r["logger"]) for r in records}
    assert all(UTC_STAMP.match(r["ts"]) for r in records)
