"""Issue 16: every config mistake is one line `file:line: [section] key: message
(did you mean …?)` and exit status 2, whatever section it is in; `config check`
prints TOML that reads back as the same config."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from ottwatch.cli import cli
from ottwatch.config import config_model, config_sections, validate_config
from ottwatch.config_problems import model_at

MISTAKES = [
    ("[scoring]\nbase_treshold = 5\n",
     "2: [scoring] base_treshold: unknown key (did you mean base_threshold?)"),
    ("[scoring]\nbase_threshold = 45\n\n[scoring.rio]\ncurrency = 'USD'\n",
     "4: [scoring] rio: unknown key (did you mean roi?)"),
    ("[scoring.learning]\nenabled = true\nanomaly_cutt = 0.9\n",
     "3: [scoring.learning] anomaly_cutt: unknown key (did you mean anomaly_cut?)"),
    ("[scoring.learning]\nmin_samples = 5\n",
     "2: [scoring.learning] min_samples: Input should be greater than or equal to 10"),
    ("[velocity]\nspike_facter = 3\n",
     "2: [velocity] spike_facter: unknown key (did you mean spike_factor?)"),
    ("[playback]\nmax_distance = 3\n",
     "2: [playback] max_distance: unknown key (did you mean max_distance_km?)"),
    ("[security]\nwieght = 3\n", "2: [security] wieght: unknown key (did you mean weight?)"),
    ("[alerts]\nurls = ['chatt,emial=json://localhost/hook']\n",
     "2: [alerts] urls[0]: no route or override uses its tags 'chatt', 'emial': nothing "
     "would be sent to it (did you mean chat, email?)"),
    ("[alerts]\nurls = ['chat=nosuchscheme://admin:hunter22@example.com/']\n",
     "2: [alerts] urls[0]: apprise cannot load 'chat=nosuchscheme://admin:***@example.com/' "
     "(not an apprise URL, or a service it does not know)"),
    ("[alerts]\n\n[[alerts.overrides]]\nname = 'a'\ncode = 'x.*'\nhigh = ['chat']\n\n"
     "[[alerts.overrides]]\nname = 'b'\ncode = 'y.*'\nhgh = ['chat']\n",
     "11: [alerts] overrides[1].hgh: unknown key (did you mean high?)"),
    ("[alerts.routes]\nmedium = ['chat']\ncritcal = ['pager']\n",
     "3: [alerts] routes.critcal: unknown key (did you mean critical?)"),
    ("log = { levle = 'info' }\n", "1: [log] levle: unknown key (did you mean level?)"),
]


def check(tmp_path: Path, text: str, *args: str) -> tuple[int, str, Path]:
    path = tmp_path / "ottwatch.toml"
    path.write_text(text, encoding="utf-8")
    command = list(args) or ["config", "check"]
    result = CliRunner().invoke(cli, [*command, "--config", str(path)])
    return result.exit_code, result.output, path


@pytest.mark.parametrize(("text", "line"), MISTAKES)
def test_each_mistake_is_one_line_with_where_and_exit_2(tmp_path: Path, text: str,
                                                        line: str) -> None:
    code, out, path = check(tmp_path, text)
    assert code == 2
    assert out == f"{path}:{line}\n"
    assert "hunter22" not in out and "Traceback" not in out


def test_every_mistake_of_a_file_is_told_in_the_order_of_the_file(tmp_path: Path) -> None:
    text = ("[storage]\nbatch_size = 0\n\n[scoring]\nbase_treshold = 5\n\n"
            "[scoring.learning]\nanomaly_cutt = 0.9\n\n[velocity]\nspike_facter = 3\n")
    code, out, path = check(tmp_path, text)
    assert code == 2
    assert [line.split(": ", 2)[:2] for line in out.splitlines()] == [
        [f"{path}:2", "[storage] batch_size"], [f"{path}:5", "[scoring] base_treshold"],
        [f"{path}:8", "[scoring.learning] anomaly_cutt"], [f"{path}:11", "[velocity] spike_facter"]]


def test_alerts_test_refuses_a_channel_no_route_reaches(tmp_path: Path) -> None:
    code, out, path = check(tmp_path, "[alerts]\nurls = ['chatt=json://localhost/hook']\n",
                            "alerts", "test")
    assert code == 2 and "ok" not in out
    assert out.startswith(f"{path}:2: [alerts] urls[0]: no route or override uses its tags")


def test_tags_an_override_uses_and_untagged_urls_are_routed(tmp_path: Path) -> None:
    text = ("[alerts]\nurls = ['dpo=json://localhost/a', 'json://localhost/b']\n\n"
            "[[alerts.overrides]]\nname = 'dpo'\nregulation = 'GDPR'\nhigh = ['dpo']\n")
    code, out, _path = check(tmp_path, text)
    assert code == 0, out


def test_every_section_forbids_unknown_keys_at_every_depth() -> None:
    def walk(model: type[BaseModel], where: str) -> None:
        assert model.model_config.get("extra") == "forbid", where
        for name, field in model.model_fields.items():
            inner = model_at(model, [name])
            if inner is not None:
                walk(inner, f"{where}.{name}")
            assert field.annotation is not None

    walk(config_model(), "config")


def test_the_schema_is_made_from_the_table_of_parts() -> None:
    from ottwatch.stages.table import PARTS

    sections = config_sections()
    for part in PARTS:
        assert sections[part.section] is part.settings
        assert model_at(config_model(), part.section.split(".")) is not None
    assert list(sections).index("security") < list(sections).index("scoring")


CUSTOM = """\
[storage]
url = "sqlite:////tmp/custom.db"
batch_size = 500

[scoring]
base_threshold = 45.0
weights = { "auth.failure_burst" = 35.0, "geo.mismatch" = 10.0 }

[scoring.learning]
enabled = false
drift_ks_threshold = 0.3

[scoring.roi]
currency = "USD"

[velocity]
spike_scales = [{ window_s = 60.0, min_count = 10 }, { window_s = 3600.0, min_count = 50 }]

[alerts]
min_level = "medium"

[[alerts.overrides]]
name = "dpo"
regulation = "GDPR"
high = ["dpo", "email"]

[regulations]
overrides = { GDPR = { dsar = { days = 20, source = "our \\"policy\\"" } } }

[retention]
per_region_days = { "US-CA" = 400 }
"""


def test_config_check_prints_toml_that_reads_back_as_the_same_config(tmp_path: Path) -> None:
    code, out, path = check(tmp_path, CUSTOM)
    assert code == 0, out
    printed = tomllib.loads(out)
    assert list(printed) == [name for name in config_sections() if "." not in name]
    assert printed["scoring"]["learning"]["enabled"] is False
    assert printed["scoring"]["roi"]["currency"] == "USD"
    again = validate_config(out, "printed")
    original = validate_config(CUSTOM, str(path))
    assert again.model_dump() == original.model_dump()
    assert again.model_dump() != config_model()().model_dump()


def test_config_check_of_no_file_prints_every_default_as_toml(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setenv("OTTWATCH_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    result = CliRunner().invoke(cli, ["config", "check"])
    assert result.exit_code == 0
    assert validate_config(result.output, "printed").model_dump() == \
        validate_config("", "defaults").model_dump()


def test_a_config_pickles_for_the_training_process() -> None:
    import pickle

    config = validate_config(CUSTOM, "custom")
    again = pickle.loads(pickle.dumps(config))
    assert type(again) is type(config) and again.model_dump() == config.model_dump()
    assert again.scoring.learning.enabled is False
