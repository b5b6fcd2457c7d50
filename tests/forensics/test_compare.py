"""`replay --compare`: one read, two configs. Against two separate replays (one per
config) of the same log, the comparison says exactly what differs, per code, per
level and per alert; the same config twice says nothing differs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO

CORPUS = REPO / "fixtures" / "corpus"


def ottwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ottwatch", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("compare")
    log = folder / "events.jsonl"
    assert ottwatch("fixtures", "generate", "--users", "400", "--days", "20", "--seed", "4",
                    str(log)).returncode == 0
    a = folder / "a.toml"
    a.write_text((CORPUS / "ottwatch.toml").read_text(encoding="utf-8").replace(
        "../", f"{CORPUS.parent}/"), encoding="utf-8")
    b = folder / "b.toml"  # a spike bar ten times higher, and travel weighed more
    b.write_text(a.read_text(encoding="utf-8") + "impossible_travel_weight = 90\n"
                 "\n[velocity]\nspike_factor = 50\n", encoding="utf-8")
    return {"log": log, "a": a, "b": b, "folder": folder}


def per_event(db: Path) -> dict[str, tuple[str, frozenset[str]]]:
    with sqlite3.connect(db) as conn:
        return {event_id: (level, frozenset(r["code"] for r in json.loads(reasons or "[]")))
                for event_id, level, reasons in
                conn.execute("SELECT event_id, level, reasons FROM assessments")}


def alert_keys(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return {key: json.loads(codes)[0] for key, codes in
                conn.execute("SELECT group_key, codes FROM alerts")}


def test_the_comparison_is_the_difference_of_two_replays(setup: dict[str, Path]) -> None:
    folder, log = setup["folder"], setup["log"]
    for name in ("a", "b"):
        done = ottwatch("replay", "-q", "--config", str(setup[name]), "--db",
                        str(folder / f"{name}.db"), str(log))
        assert done.returncode == 0, done.stderr
    done = ottwatch("replay", "-q", "--config", str(setup["a"]), "--compare", str(setup["b"]),
                    "--json", "--db", str(folder / "ab.db"), str(log))
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)

    a, b = per_event(folder / "a.db"), per_event(folder / "b.db")
    assert per_event(folder / "ab.db") == a  # A is stored as a plain replay stores it
    assert found["events"] == len(a) == len(b)
    added, removed = Counter(), Counter()
    for event_id, (_, codes_a) in a.items():
        codes_b = b[event_id][1]
        added.update(codes_b - codes_a)
        removed.update(codes_a - codes_b)
    assert {c: d["added"] for c, d in found["codes"].items() if d["added"]} == dict(added)
    assert {c: d["removed"] for c, d in found["codes"].items() if d["removed"]} == \
        dict(removed)
    assert removed["velocity.access_spike"] > 0  # the known effect is there
    moves = Counter((a[e][0], b[e][0]) for e in a if a[e][0] != b[e][0])
    assert {(m["a"], m["b"]): m["events"] for m in found["levels"]} == dict(moves)

    keys_a, keys_b = alert_keys(folder / "a.db"), alert_keys(folder / "b.db")
    for kind, delta in found["alerts"].items():
        assert delta["added"] == sum(1 for k, c in keys_b.items() if c == kind and
                                     k not in keys_a), kind
        assert delta["removed"] == sum(1 for k, c in keys_a.items() if c == kind and
                                       k not in keys_b), kind
    example = found["codes"]["velocity.access_spike"]["removed_examples"][0]
    assert "velocity.access_spike" in a[example][1] and "velocity.access_spike" not in \
        b[example][1]


def test_the_same_config_twice_differs_in_nothing(setup: dict[str, Path]) -> None:
    done = ottwatch("replay", "-q", "--config", str(setup["a"]), "--compare", str(setup["a"]),
                    "--db", str(setup["folder"] / "aa.db"), str(setup["log"]))
    assert done.returncode == 0, done.stderr
    assert "no difference" in done.stdout
