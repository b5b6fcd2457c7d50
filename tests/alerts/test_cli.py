"""`ottwatch alerts ...` through click's CliRunner, on a real database and receiver."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ottwatch.alerts.settings import AlertSettings
from ottwatch.alerts.store import load_silences, os_user
from ottwatch.commands.alerts import command, parse_duration
from storage.tables import AuditRow, SilenceRow
from tests.alerts.conftest import PASSWORD, T0, Harness, Receiver, event


def _config(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "ottwatch.toml"
    listed = ", ".join(f'"{u}"' for u in urls)
    path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "ottwatch.db"}"\n\n'
                    f"[alerts]\nurls = [{listed}]\n", encoding="utf-8")
    return path


def _run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(command, [*args, "--config", str(config)],
                                catch_exceptions=False)
    return result.exit_code, result.output


def _audit(engine) -> list[tuple[str, str, str]]:
    table = AuditRow.__table__
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table.c.actor, table.c.action,
                                                      table.c.target).order_by(table.c.id))]


@pytest.fixture
def seeded(tmp_path: Path, engine, receiver: Receiver) -> tuple[Path, Harness]:
    config = _config(tmp_path, receiver.entries())
    harness = Harness(engine, AlertSettings(urls=receiver.entries(), group_wait_s=0))
    harness.run([event(1, "u-1", score=85), event(2, "u-2", ts=T0 + 1, score=65)])
    return config, harness


def test_list_show_and_ack_with_an_audit_row(seeded):
    config, harness = seeded
    alerts = {a["user_id"]: a for a in harness.alerts()}
    code, out = _run(config, "list")
    assert code == 0 and "2 alerts" in out
    assert all(a["alert_id"] in out for a in alerts.values())

    target = alerts["u-1"]["alert_id"]
    code, out = _run(config, "show", target)
    assert code == 0 and "[CRITICAL] geo.anonymizer — user u-1" in out
    assert f"ottwatch tui --alert {target}" in out and "pending" in out

    code, out = _run(config, "ack", target, "--note", "on it")
    assert code == 0 and f"acknowledged {target}" in out
    code, out = _run(config, "list", "--status", "acked", "--json")
    assert [a["alert_id"] for a in orjson.loads(out)] == [target]
    assert _audit(harness.engine) == [(os_user(), "alert.ack", target)]
    code, out = _run(config, "show", target)
    assert f"alert.ack by {os_user()} at " in out and ": on it" in out

    code, out = _run(config, "ack", "al-0000000000000000")
    assert code != 0 and "no alert al-0000000000000000" in out


def test_silence_and_unsilence_from_the_command_line(seeded):
    config, harness = seeded
    before = time.time()
    code, out = _run(config, "silence", "--user", "u-1", "--code", "geo.*",
                     "--label", "segment=new", "--for", "2h", "--reason", "load test")
    assert code == 0 and "silence 1:" in out
    table = SilenceRow.__table__
    with harness.engine.connect() as conn:
        row = conn.execute(select(table)).mappings().one()
    assert row["matchers"] == {"user_id": "u-1", "code": "geo.*", "segment": "new"}
    assert row["reason"] == "load test" and row["created_by"] == os_user()
    assert before + 7200 <= row["expires_at"] <= time.time() + 7200
    [active] = load_silences(harness.engine)
    assert active.matches({"user_id": "u-1", "code": "geo.anonymizer", "segment": "new"})

    code, out = _run(config, "silences")
    assert code == 0 and "user_id=u-1" in out and "load test" in out
    code, out = _run(config, "unsilence", "1")
    assert code == 0 and "silence 1 ended" in out
    assert load_silences(harness.engine) == []
    assert [a[1:] for a in _audit(harness.engine)] == [("alert.silence", "silence:1"),
                                                       ("alert.unsilence", "silence:1")]

    code, out = _run(config, "silence", "--for", "1h", "--reason", "everything")
    assert code != 0 and "at least one matcher" in out
    code, out = _run(config, "silence", "--label", "colour=red", "--for", "1h", "--reason", "x")
    assert code != 0 and "unknown label" in out


def test_the_test_command_reports_each_channel_and_never_prints_a_password(
        tmp_path, receiver: Receiver, free_port: int, caplog):
    dead = f"json://ottwatch:{PASSWORD}@127.0.0.1:{free_port}/email"
    config = _config(tmp_path, [f"chat={receiver.url('chat')}", f"email={dead}"])
    caplog.set_level(logging.DEBUG)
    code, out = _run(config, "test")

    assert code != 0 and "1 of 2 channel(s) failed" in out
    lines = out.splitlines()
    assert any(line.startswith("ok") and "chat=json://ottwatch:****@" in line for line in lines)
    assert any(line.startswith("FAILED") and "email=" in line for line in lines)
    assert PASSWORD not in out
    assert all(PASSWORD not in r.getMessage() for r in caplog.records
               if r.name.startswith("ottwatch"))
    [post] = receiver.received("chat")
    assert post["title"].startswith("[TEST] ottwatch.test")

    code, out = _run(config, "test", "--route", "medium")  # medium -> chat only
    assert code == 0 and "chat-" in out and "email" not in out
    assert len(receiver.received("chat")) == 2
    code, out = _run(config, "test", "--route", "nowhere")
    assert code != 0 and "no route" in out


def test_a_bad_url_is_reported_masked_and_apprise_logs_no_part_of_it(tmp_path, caplog):
    config = _config(tmp_path, [f"chat=nosuchscheme://admin:{PASSWORD}@example.com/"])
    caplog.set_level(logging.DEBUG)
    code, out = _run(config, "test")
    assert code == 2 and len(out.splitlines()) == 1  # a config mistake: one line
    assert "[alerts] urls[0]: apprise cannot load 'chat=nosuchscheme://admin:***@" in out
    assert PASSWORD not in out and PASSWORD[1:-1] not in caplog.text


def test_show_prints_a_failed_delivery_error_without_the_password(seeded, receiver):
    config, harness = seeded
    receiver.refuse()
    harness.sender([T0 + 5]).send_due_once()
    target = harness.alerts()[0]["alert_id"]
    code, out = _run(config, "show", target, "--json")
    record = orjson.loads(out)
    assert code == 0 and {d["state"] for d in record["deliveries"]} == {"retrying"}
    assert all(d["last_error"] for d in record["deliveries"]) and PASSWORD not in out


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30m", 1800), ("2h", 7200),
                                               ("1d", 86400), ("1h30m", 5400), ("1w", 604800)])
def test_durations(text: str, seconds: float):
    assert parse_duration(text) == seconds
