from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fixtures.generator import write_log
from ottwatch.cli import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
    return found


@pytest.mark.parametrize("path", all_commands(cli))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage: ottwatch" in result.output


def test_replay_then_export_events_and_quarantine(tmp_path: Path) -> None:
    log = tmp_path / "in.jsonl"
    write_log(log, 2000, seed=11, users=100, bad_ratio=0.02)
    db = tmp_path / "r.db"
    runner = CliRunner()
    result = runner.invoke(cli, ["replay", str(log), "--db", str(db), "-q"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(cli, ["replay", str(log), "--db", str(db), "-q"])
    assert again.exit_code == 1 and "exists" in again.output

    events = runner.invoke(cli, ["export", "--db", str(db), "--what", "events"])
    records = [json.loads(line) for line in events.stdout.splitlines()]
    quarantine = runner.invoke(cli, ["export", "--db", str(db), "--what", "quarantine",
                                     "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(quarantine.output)))
    assert len(records) + len(rows) == 2000
    assert 10 < len(rows) < 80
    assert {"event_id", "timestamp", "user_id", "event_type"} <= set(records[0])
    assert all(r["reason"] and r["source"].startswith("file:") for r in rows)
    assessments = runner.invoke(cli, ["export", "--db", str(db), "--what", "assessments"])
    first = json.loads(assessments.stdout.splitlines()[0])
    assert set(first) == {"event_id", "user_id", "timestamp", "score", "level", "decision",
                          "threshold", "reasons"}


def test_bench_reports_json_last(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "-n", "3000", "--users", "300", "--json",
                                      "--ingest-only"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["events"] == 3000
    assert report["events_per_s"] > 0 and report["p99_ms"] >= report["p50_ms"] > 0
    assert 0 < report["cpu_seconds"] and report["events_per_cpu_s"] == pytest.approx(
        3000 / report["cpu_seconds"], rel=0.01)
    assert report["ingest_only"] is True


def test_bench_rules_only_scores_with_the_rule_stages_alone(tmp_path: Path) -> None:
    import sqlite3

    result = CliRunner().invoke(cli, ["bench", "-n", "3000", "--users", "300", "--json",
                                      "--rules-only", "--keep", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["rules_only"] is True and report["learning"] is None
    assert report["stages"] == ["input_security", "geo", "velocity", "playback", "compliance",
                                "segments"]
    with sqlite3.connect(tmp_path / "bench.db") as conn:
        assessed = conn.execute("SELECT count(*) FROM assessments").fetchone()[0]
        codes = {row[0] for row in conn.execute(
            "SELECT DISTINCT top_code FROM assessments WHERE top_code IS NOT NULL")}
    assert assessed == 3000
    assert "consent.missing" in codes and "ring.member" not in codes


@pytest.mark.parametrize("other", ["--models", "--ingest-only"])
def test_bench_refuses_rules_only_with_another_mode_before_any_work(
        tmp_path: Path, other: str) -> None:
    result = CliRunner().invoke(cli, ["bench", "-n", "3000", "--rules-only", other,
                                      "--keep", str(tmp_path)])
    assert result.exit_code == 2
    assert f"--rules-only cannot be combined with {other}" in result.output
    assert not any(tmp_path.iterdir())  # refused before generating the log


def test_rings_can_be_switched_off_in_the_config() -> None:
    from ottwatch.config import Config
    from ottwatch.pipeline_build import build_pipeline

    config = Config.model_validate({"rings": {"enabled": False}})
    pipeline = build_pipeline(config)
    assert "rings" not in pipeline.stage_names
    assert not any(type(sink).__name__ == "RingScoreSink" for sink in pipeline.sinks)
    assert "rings" in build_pipeline(Config()).stage_names


def test_bench_with_random_ids_stores_uuid4_event_ids(tmp_path: Path) -> None:
    import sqlite3
    import uuid

    result = CliRunner().invoke(cli, ["bench", "-n", "2000", "--users", "200", "--json",
                                      "--ingest-only", "--random-ids", "--keep", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["events"] == 2000 and report["random_ids"] is True
    with sqlite3.connect(tmp_path / "bench.db") as conn:
        ids = [row[0] for row in conn.execute("SELECT event_id FROM events")]
    assert len(set(ids)) == 2000
    assert all(uuid.UUID(event_id).version == 4 for event_id in ids)


def test_bench_with_models_trains_on_a_warm_up_and_scores_with_them(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "-n", "3000", "--users", "300", "--json",
                                      "--models", "--warm", "4000", "--keep", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["models"] == {"ensemble": 1, "predictor": 1}
    # the stage that scored the timed events held both models
    assert report["learning"].startswith("anomaly ensemble v1 (")
    assert "; violation predictor v1 (" in report["learning"]
    assert report["events"] == 3000  # the timed run only; the warm-up is not counted
    import sqlite3

    with sqlite3.connect(tmp_path / "bench.db") as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        labels = conn.execute("SELECT label, count(*) FROM labels GROUP BY label").fetchall()
    assert stored == 7000 and dict(labels) == {"benign": 40, "violation": 40}


def test_demo_headless_streams_through_the_agent(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--headless", "-n", "1500", "--rate", "20000",
                                      "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "events stored" in result.output
    import sqlite3

    written = (tmp_path / "events.jsonl").read_bytes().count(b"\n")
    with sqlite3.connect(tmp_path / "ottwatch.db") as conn:
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        quarantined = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        codes = {reason["code"] for (reasons,) in conn.execute(
            "SELECT reasons FROM assessments WHERE top_code IS NOT NULL")
            for reason in json.loads(reasons)}
        rings = conn.execute("SELECT count(*) FROM rings").fetchone()[0]
    assert abs(written - 1500) <= 0.25 * 1500 and stored + quarantined == written
    assert stored > 0.98 * written
    assert {"geo.anonymizer", "input.attack_pattern", "auth.failure_burst"} <= codes
    assert rings >= 1  # the stream's account farm, found while the agent tails the log
