"""`ottwatch eval` end to end: generated seeds (JSON keys and sane figures), a
hand-made log with its labels file, and the command's refusals."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from fixtures.scenario_labels import write_labelled_log
from tests.eval.conftest import run_eval

pytestmark = pytest.mark.slow  # each test replays whole scenarios

JUDGEMENT_KEYS = {"name", "kind", "seed", "log", "events", "codes", "benign", "travellers",
                  "look_alikes", "incidents", "timers", "rings", "quarantine"}
CODE_KEYS = {"positives", "fired", "tp", "fp", "fn", "recall", "precision"}


def test_the_json_has_every_key_and_figures_that_add_up(small_eval) -> None:
    report, folder = small_eval
    assert set(report) == {"version", "scenarios", "total", "floors", "passed"}
    assert [s["seed"] for s in report["scenarios"]] == [1, 2, 3]
    assert [s["log"] for s in report["scenarios"]] == [None, None, None]  # removed
    total = report["total"]
    for judgement in (*report["scenarios"], total):
        assert set(judgement) == JUDGEMENT_KEYS
        assert judgement["events"] > 10_000 or judgement is not total
        for code, score in judgement["codes"].items():
            assert set(score) == CODE_KEYS, code
            assert score["tp"] + score["fn"] == score["positives"], code
            assert score["tp"] + score["fp"] <= score["fired"], code
            for rate in (score["recall"], score["precision"]):
                assert rate is None or 0.0 <= rate <= 1.0, code
        for kind, found in judgement["incidents"].items():
            assert 0 <= found["alerted"] <= found["planted"], kind
            assert len(found["missed"]) == found["planted"] - found["alerted"], kind
            assert all("i-" in i for i in found["missed"]), kind
        timers = judgement["timers"]
        assert timers["overdue_alerted"] <= timers["overdue_planted"]
        assert len(timers["overdue_missed"]) == timers["overdue_planted"] - timers[
            "overdue_alerted"]
        assert all("rq-" in r for r in timers["overdue_missed"])
        assert timers["on_time_called_overdue"] <= timers["on_time"]
        rings = judgement["rings"]
        assert len(rings["best_jaccard"]) == rings["planted_farms"]
        assert rings["found"] <= rings["planted_farms"]
        assert judgement["quarantine"]["lines"] == sum(judgement["quarantine"]["by_reason"]
                                                       .values())
    assert total["events"] == sum(s["events"] for s in report["scenarios"])
    assert total["codes"]["geo.anonymizer"]["positives"] == sum(
        s["codes"]["geo.anonymizer"]["positives"] for s in report["scenarios"])
    # every planted kind of incident is there, and the look-alikes are judged
    assert {"account_farm", "account_takeover", "credential_stuffing", "scraper", "injection",
            "bulk_export", "plan_sharing", "anonymizer"} <= set(total["incidents"])
    assert total["benign"]["events"] > 50_000 and total["travellers"]["events"] > 1_000
    look_alikes = total["look_alikes"]
    assert {"household", "pool_reuse", "carrier_nat", "vpn_users", "new_accounts",
            "traveller"} <= set(look_alikes)
    assert look_alikes["traveller"] == total["travellers"]
    for share in look_alikes.values():
        assert 0 < share["events"] <= total["benign"]["events"]
    assert total["rings"]["planted_farms"] >= 3
    assert report["passed"] == all(f["passed"] for f in report["floors"])
    for floor in report["floors"]:
        assert set(floor) == {"name", "value", "limit", "op", "passed"}


def test_kept_databases_are_numbered_per_scenario_and_private(small_eval) -> None:
    _, folder = small_eval
    kept = sorted(p.name for p in folder.glob("eval.*.db"))
    assert kept == ["eval.1.db", "eval.2.db", "eval.3.db"]
    for name in kept:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


def _labelled(folder: Path) -> Path:
    log = folder / "planted.jsonl"
    write_labelled_log(log)
    return log


def test_a_hand_made_log_is_judged_by_its_labels_file(tmp_path: Path) -> None:
    log = _labelled(tmp_path)
    done = run_eval(str(log), "--json", "--check", cwd=tmp_path)
    report: dict[str, Any] = json.loads(done.stdout)
    failed = [f for f in report["floors"] if not f["passed"]]
    assert done.returncode == (1 if failed else 0), done.stderr[-2000:]
    (scenario,) = report["scenarios"]
    assert scenario["kind"] == "generic" and scenario["name"] == "planted.jsonl"
    assert scenario["log"] == str(log) and scenario["seed"] is None
    codes = scenario["codes"]
    assert codes["ring.member"]["positives"] == 8
    assert codes["input.attack_pattern"]["tp"] == 1
    assert codes["input.attack_pattern"]["fp"] == 0  # O'Brien and the URL with `&`
    assert scenario["timers"]["overdue_planted"] == 1
    assert scenario["rings"]["planted_farms"] == 1
    assert set(scenario["incidents"]) == {
        "account_farm", "account_takeover", "bulk_export", "credential_stuffing",
        "impossible_travel", "injection", "plan_sharing", "scraper"}
    assert scenario["benign"] is None  # a labels file does not say which events are benign
    assert not failed, failed


def test_check_fails_when_a_floor_is_missed(tmp_path: Path) -> None:
    log = _labelled(tmp_path)
    labels = Path(f"{log}.labels.jsonl")
    # An event no detector can fire on, expected to carry a code: recall drops below 0.95.
    ordinary = next(e for line in log.read_text().splitlines()
                    if (e := json.loads(line)["event_id"]).startswith("evt-"))
    lines = [json.loads(line) for line in labels.read_text().splitlines()]
    lines += [{"event_id": f"{ordinary}", "expect": ["data.bulk_export"], "forbid": []}]
    labels.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = run_eval(str(log), "--check", cwd=tmp_path)
    assert done.returncode == 1
    assert "recall data.bulk_export" in done.stdout and "missed" in done.stdout


def test_a_log_without_labels_or_an_existing_db_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "bare.jsonl"
    bare.write_text('{"event_id":"a","timestamp":"2026-01-01T00:00:00Z","user_id":"u",'
                    '"event_type":"play"}\n')
    done = run_eval(str(bare), cwd=tmp_path)
    assert done.returncode != 0 and "bare.jsonl.labels.jsonl" in done.stderr
    log = _labelled(tmp_path)
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"")
    done = run_eval(str(log), "--db", str(taken), cwd=tmp_path)
    assert done.returncode != 0 and "exists" in done.stderr
    assert taken.read_bytes() == b""
