from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ottwatch.commands.regulations import command

IDS = ["GDPR", "UK_GDPR", "CCPA", "LGPD", "PIPL", "PDPA_TH", "PDPA_SG", "POPIA", "PIPEDA",
       "KVKK", "APPI", "PIPA_KR", "AU_PRIVACY", "DPDP_IN"]
UNCONFIRMED = {"PDPA_SG", "KVKK", "APPI", "PIPA_KR", "AU_PRIVACY"}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("OTTWATCH_CONFIG", raising=False)
    return CliRunner(env={"COLUMNS": "1000"})


@pytest.fixture
def empty_config(tmp_path: Path) -> str:
    path = tmp_path / "ottwatch.toml"
    path.write_text("", encoding="utf-8")
    return str(path)


def test_the_table_shows_every_row_with_sources_and_marks(runner: CliRunner,
                                                          empty_config: str) -> None:
    result = runner.invoke(command, ["--config", empty_config])
    assert result.exit_code == 0, result.output
    out = result.output
    for regulation_id in IDS:
        assert regulation_id in out
    assert out.count("unconfirmed") >= len(UNCONFIRMED)
    for text in ("72 h (Art. 33(1))", "30 d*", "45 d", "not stated in the law", "opt-out",
                 "EUR 20M or 4% of worldwide turnover (Art. 83(5))", "Civ. Code 1798.155",
                 "(?)", "* the tool's operational default, not the law's"):
        assert text in out


def test_json_for_scripts(runner: CliRunner, empty_config: str) -> None:
    result = runner.invoke(command, ["--json", "--config", empty_config])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["id"] for row in rows] == IDS
    gdpr = rows[0]
    assert gdpr["dsar"] == {"hours": None, "days": 30.0, "law": "1 month, extendable by 2",
                            "source": "Art. 12(3)", "tool_default": True, "stated": True,
                            "overridden": False, "seconds": 30 * 86400.0}
    assert gdpr["fine"]["amount"] == 20_000_000 and gdpr["fine"]["currency"] == "EUR"
    assert {row["id"] for row in rows if not row["confirmed"]} == UNCONFIRMED


def test_overrides_from_the_config_apply(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "ottwatch.toml"
    config.write_text('[regulations.overrides.GDPR]\n'
                      'dsar = { days = 20, source = "our policy" }\n', encoding="utf-8")
    rows = json.loads(runner.invoke(command, ["--json", "--config", str(config)]).stdout)
    assert rows[0]["dsar"]["days"] == 20 and rows[0]["dsar"]["overridden"]
    result = runner.invoke(command, ["--config", str(config)])
    assert "20 d†" in result.output and "our policy" in result.output


def test_a_bad_override_is_a_clear_error(runner: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "ottwatch.toml"
    config.write_text("[regulations.overrides.GDPR]\ndsar = { days = -3 }\n",
                      encoding="utf-8")
    result = runner.invoke(command, ["--config", str(config)])
    assert result.exit_code != 0
    assert "regulation GDPR" in result.output and "dsar" in result.output
