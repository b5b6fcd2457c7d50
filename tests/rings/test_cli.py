from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

import storage
from ottwatch.commands.rings import command
from ottwatch.rings.export import RING_FIELDS, rings
from storage.writer import BatchWriter

from .helpers import START, members, new_stage, ring, run

HOSTILE = "[red]x[/red]"


def ring_row(ring_id: str, risk: float, members: list[str], shared: list[dict[str, str]],
             ) -> dict[str, Any]:
    return {"ring_id": ring_id, "size": len(members), "risk": risk, "members": members,
            "shared": shared, "first_seen": START, "last_seen": START + 3600}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    path = tmp_path / "ottwatch.db"
    engine = storage.open_database("sqlite:///" + str(path))
    BatchWriter(engine).write(
        events=[], quarantined=[], assessments=[], positions=[], now=START,
        upserts={"rings": [
            ring_row("R-aaaa1111", 0.91, ["acct-1", "acct-2", HOSTILE, "acct-4", "acct-5"],
                     [{"kind": "device", "value": "dev-[bold]tv[/bold]"},
                      {"kind": "payment", "value": "****4242"}]),
            ring_row("R-bbbb2222", 0.31, [f"low-{n}" for n in range(6)],
                     [{"kind": "ip", "value": "203.0.113.7"}]),
        ]})
    yield str(path), engine
    engine.dispose()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("OTTWATCH_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    return CliRunner(env={"COLUMNS": "200"})


def test_list_shows_rings_riskiest_first(runner: CliRunner, db: tuple[str, Engine]) -> None:
    path, _ = db
    result = runner.invoke(command, ["--db", path])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("R-aaaa1111") < out.index("R-bbbb2222")
    assert "0.91" in out and "1 payment, 1 device" in out and "1 ip" in out
    assert "2026-11-02 12:00" in out and "2026-11-02 13:00" in out


def test_min_risk_filters_and_json_is_for_scripts(runner: CliRunner,
                                                  db: tuple[str, Engine]) -> None:
    path, _ = db
    result = runner.invoke(command, ["--db", path, "--min-risk", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    assert record["ring_id"] == "R-aaaa1111" and record["members"][2] == HOSTILE
    assert record["first_seen"] == "2026-11-02T12:00:00.000000Z"


def test_show_prints_a_tree_with_untrusted_strings_literally(runner: CliRunner,
                                                             db: tuple[str, Engine]) -> None:
    path, _ = db
    result = runner.invoke(command, ["show", "R-aaaa1111", "--db", path])
    assert result.exit_code == 0, result.output
    out = result.output
    assert HOSTILE in out
    assert "dev-[bold]tv[/bold]" in out
    assert "****4242" in out
    for label in ("shared resources", "devices (1)", "payment methods (1)",
                  "member users (5)", "5 accounts", "risk 0.91"):
        assert label in out
    assert out.index("shared resources") < out.index("member users")


def test_show_takes_the_database_from_the_group_too(runner: CliRunner,
                                                    db: tuple[str, Engine]) -> None:
    path, _ = db
    result = runner.invoke(command, ["--db", path, "show", "R-bbbb2222"])
    assert result.exit_code == 0, result.output
    assert "low-5" in result.output and "IPs (1)" in result.output


def test_show_an_unknown_ring_fails(runner: CliRunner, db: tuple[str, Engine]) -> None:
    path, _ = db
    result = runner.invoke(command, ["show", "R-nope", "--db", path])
    assert result.exit_code == 1
    assert "no ring 'R-nope'" in result.output


def test_export_has_exactly_the_contract_keys(db: tuple[str, Engine]) -> None:
    _, engine = db
    columns, records = rings(engine)
    records = list(records)
    assert columns == ["ring_id", "size", "risk", "members", "shared"] == RING_FIELDS
    assert [set(r) for r in records] == [set(RING_FIELDS)] * 2
    first = records[0]
    assert first["ring_id"] == "R-aaaa1111" and first["size"] == 5
    assert first["shared"][0] == {"kind": "device", "value": "dev-[bold]tv[/bold]"}


def test_stage_rows_store_and_export(tmp_path: Path) -> None:
    stage = new_stage()
    batch = run(stage, ring(members("crew", 8)))
    engine = storage.open_database("sqlite:///" + str(tmp_path / "stage.db"))
    try:
        BatchWriter(engine).write(events=[], quarantined=[], assessments=[], positions=[],
                                  now=START, upserts=batch.upserts)
        [record] = list(rings(engine)[1])
    finally:
        engine.dispose()
    assert record["members"] == members("crew", 8)
    assert record["ring_id"] == next(iter(stage.rings))
    assert {"kind": "payment", "value": "****1234"} in record["shared"]
