"""Shadow mode: a detector whose section says `mode = "shadow"` still records its reasons
(marked shadow in explain, export and the database) but adds nothing to any score and
raises no alert; the other detectors are untouched."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ottwatch.scoring import noisy_or
from tests.conftest import REPO

CORPUS = REPO / "fixtures" / "corpus"
GEO_CODES = {"geo.impossible_travel", "geo.anonymizer", "geo.claimed_region_mismatch"}


def ottwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ottwatch", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shadow")
    active = folder / "active.toml"
    active.write_text((CORPUS / "ottwatch.toml").read_text(encoding="utf-8").replace(
        "../", f"{CORPUS.parent}/"), encoding="utf-8")
    shadow = folder / "shadow.toml"
    shadow.write_text(active.read_text(encoding="utf-8") + 'mode = "shadow"\n', encoding="utf-8")
    out = {}
    for name, config in (("active", active), ("shadow", shadow)):
        out[name] = folder / f"{name}.db"
        done = ottwatch("replay", "-q", "--config", str(config), "--db", str(out[name]),
                        str(CORPUS / "incidents.jsonl"))
        assert done.returncode == 0, done.stderr
    return out


def reasons(db: Path) -> dict[str, tuple[float, list[dict[str, object]]]]:
    with sqlite3.connect(db) as conn:
        return {e: (score, json.loads(r or "[]")) for e, score, r in
                conn.execute("SELECT event_id, score, reasons FROM assessments")}


def test_shadow_reasons_are_recorded_but_never_scored_or_alerted(replays: dict[str, Path]
                                                                 ) -> None:
    active, shadow = reasons(replays["active"]), reasons(replays["shadow"])
    geo_active = {(e, r["code"]) for e, (_, rs) in active.items() for r in rs
                  if r["code"] in GEO_CODES}
    geo_shadow = {(e, r["code"]) for e, (_, rs) in shadow.items() for r in rs
                  if r["code"] in GEO_CODES}
    assert geo_shadow == geo_active and geo_active  # the same findings, still recorded
    for event_id, (score, found) in shadow.items():
        assert all(r.get("shadow") is True for r in found if r["code"] in GEO_CODES)
        assert not any(r.get("shadow") for r in found if r["code"] not in GEO_CODES)
        acting = [float(r["weight"]) for r in found if not r.get("shadow")]
        assert score == round(noisy_or(acting), 2), event_id
    with sqlite3.connect(replays["shadow"]) as conn:
        codes = {c for (c,) in conn.execute("SELECT value FROM alerts, json_each(alerts.codes)")}
        top = {c for (c,) in conn.execute("SELECT DISTINCT top_code FROM assessments")}
    assert not codes & GEO_CODES and not top & GEO_CODES
    with sqlite3.connect(replays["active"]) as conn:
        assert {c for (c,) in conn.execute("SELECT value FROM alerts, json_each(alerts.codes)")
                } & GEO_CODES  # with geo acting, it did raise alerts


def test_explain_and_export_mark_shadow_reasons(replays: dict[str, Path], tmp_path: Path
                                                ) -> None:
    event_id = next(e for e, (_, rs) in reasons(replays["shadow"]).items()
                    if any(r.get("shadow") for r in rs))
    done = ottwatch("explain", event_id, "--db", str(replays["shadow"]))
    assert done.returncode == 0 and "(shadow: not scored)" in done.stdout, done.stderr
    out = tmp_path / "a.jsonl"
    done = ottwatch("export", "--what", "assessments", "--db", str(replays["shadow"]),
                    "--out", str(out))
    assert done.returncode == 0, done.stderr
    record = next(json.loads(line) for line in out.read_text().splitlines()
                  if json.loads(line)["event_id"] == event_id)
    assert any(r.get("shadow") is True for r in record["reasons"])


def test_mode_takes_only_active_or_shadow(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[velocity]\nmode = "shadwo"\n', encoding="utf-8")
    done = ottwatch("config", "check", "--config", str(config))
    assert done.returncode == 2 and f"{config}:2: [velocity] mode:" in done.stderr
