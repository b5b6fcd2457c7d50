from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ottwatch.cli import cli
from ottwatch.config import ConfigError, load_config, mask_url


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ottwatch.toml"
    path.write_text(text)
    return path


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\nurl = "sqlite:///data/o.db"\n[sources]\n'
                           'files = ["logs/*.jsonl"]\n[geo]\ncity_db = "City.mmdb"\n')
    config = load_config(path)
    assert config.storage.url == f"sqlite:///{tmp_path}/data/o.db"
    assert config.sources.files == [f"{tmp_path}/logs/*.jsonl"]
    assert config.geo.city_db == f"{tmp_path}/City.mmdb"


def test_env_overrides_the_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTTWATCH_DB_URL", "postgresql+psycopg://u:pw@db/ott")
    assert load_config(write(tmp_path, "")).storage.url == "postgresql+psycopg://u:pw@db/ott"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[storage]\nbatch_size = 0\n",
         "ottwatch.toml:2: [storage] batch_size: Input should be greater than or equal to 1"),
        ("[sources]\ntcp = 'nope'\n",
         "ottwatch.toml:2: [sources] tcp: expected HOST:PORT, for example 127.0.0.1:7514"),
        ("[storage]\nurll = 'x'\n",
         "ottwatch.toml:2: [storage] urll: unknown key (did you mean url?)"),
        ("[storage]\nurl = 'x'\n[storage\n", "ottwatch.toml:3: not valid TOML: "),
    ],
)
def test_invalid_config_says_where(tmp_path: Path, text: str, line: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert len(info.value.lines) == 1
    assert info.value.lines[0].startswith(f"{tmp_path}/{line}")


def test_secrets_are_masked() -> None:
    assert "s3cret" not in mask_url("postgresql+psycopg://ott:s3cret@db.internal/ott")
    masked = mask_url("json://user:s3cretpass@127.0.0.1:8080/hook")
    assert "s3cretpass" not in masked and masked.startswith("json://")
    tagged = mask_url("chat,pager=slack://TOKENA/TOKENB/TOKENC/#alerts")
    assert tagged.startswith("chat,pager=slack://") and "TOKENB" not in tagged


def test_config_check_prints_effective_config_with_secrets_masked(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\nurl = "postgresql+psycopg://ott:hunter22@db/ott"\n'
                           '[alerts]\nurls = ["email=mailto://ops:mailpass99@example.com"]\n')
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "hunter22" not in result.output and "mailpass99" not in result.output
    assert data["storage"]["url"].startswith("postgresql+psycopg://ott:***@db/ott")
    assert data["alerts"]["urls"][0].startswith("email=mailto://")
    bad = CliRunner().invoke(cli, ["config", "check", "--config", str(write(tmp_path, "x=")),])
    assert bad.exit_code == 2 and "ottwatch.toml:1: not valid TOML" in bad.output


def test_config_check_catches_a_typo_in_a_scoring_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[scoring.learning]\nanomaly_cutt = 0.9\n")
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert result.output == (f"{path}:2: [scoring.learning] anomaly_cutt: unknown key "
                             "(did you mean anomaly_cut?)\n")


def test_the_readme_example_config_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = write(tmp_path, example)
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "user:pass" not in result.output
