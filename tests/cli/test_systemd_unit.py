"""`ottwatch systemd-unit`: a unit that starts on a fresh machine (no account, state
and logs folders made by systemd, the config handed over as a credential) and whose
system-call filter neither denies the retraining child's setpriority nor kills."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ottwatch.cli import cli
from ottwatch.commands import systemd

# setpriority is in @resources; @system-service includes @resources (systemd.exec(5))
SETPRIORITY_GROUPS = {"@resources", "setpriority"}


def unit_text(*args: str) -> str:
    result = CliRunner().invoke(cli, ["systemd-unit", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def settings(unit: str) -> dict[str, list[str]]:
    """Key -> every value it is given, in order (systemd keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_needs_nothing_made_beforehand() -> None:
    unit = settings(unit_text())

    assert unit["DynamicUser"] == ["yes"] and "User" not in unit
    assert unit["StateDirectory"] == ["ottwatch"] and unit["LogsDirectory"] == ["ottwatch"]
    assert unit["ConfigurationDirectory"] == ["ottwatch"]
    assert unit["LoadCredential"] == ["ottwatch.toml:/etc/ottwatch/ottwatch.toml"]
    assert unit["ExecStart"][0].endswith(" agent --config %d/ottwatch.toml")
    assert unit["Type"] == ["notify"] and unit["WatchdogSec"] == ["30"]
    assert "ExecReload" not in unit  # a reload would read the same credential copy
    assert "ReadWritePaths" not in unit  # the *Directory= settings open what it writes
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "UMask": "0077"}.items():
        assert unit[key] == [value], key


def test_the_filter_denies_with_eperm_and_leaves_setpriority_allowed() -> None:
    unit = settings(unit_text())

    assert unit["SystemCallErrorNumber"] == ["EPERM"]
    allowed, *denied = unit["SystemCallFilter"]
    assert allowed == "@system-service"
    assert all(value.startswith("~") for value in denied)
    assert not {name for value in denied for name in value[1:].split()} & SETPRIORITY_GROUPS


def test_a_named_account_is_documented_with_how_to_create_it() -> None:
    unit = unit_text("--user", "ott")

    assert "User=ott\nGroup=ott\n" in unit and "DynamicUser" not in unit
    assert "# Create the account first: sudo useradd --system" in unit


@pytest.mark.parametrize("exe", ["/tmp/venv/bin/ottwatch", "/home/ann/.local/bin/ottwatch",
                                 "/var/tmp/x/bin/ottwatch", "/root/venv/bin/ottwatch"])
def test_an_execstart_the_sandbox_hides_is_warned_about(exe: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(systemd.shutil, "which", lambda name: exe)
    result = CliRunner().invoke(cli, ["systemd-unit"])

    assert result.exit_code == 0
    assert f"warning: {exe} is hidden from the service" in result.stderr
    assert f"ExecStart={exe} agent" in result.stdout and "warning" not in result.stdout


def test_paths_outside_tmp_and_home_are_not_hidden() -> None:
    assert systemd.hidden_paths([Path("/opt/ottwatch/bin/ottwatch"), Path("/usr/bin/python3"),
                                 Path("/var/lib/ottwatch"), Path("/homeless/bin/x")]) == []
    assert systemd.hidden_paths([Path("/run/user/1000/x"), Path("/opt/x")]) == \
        [Path("/run/user/1000/x")]


def test_systemds_own_parser_accepts_every_line_of_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` (systemd's unit loader, no running systemd needed) reads
    the unit as systemd would start it; an unknown key, a misspelt system-call group
    or a bad value is a warning there and silently ignored on a real machine."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (.ci/run installs Debian's systemd package)"
    config = tmp_path / "ottwatch.toml"  # the credential's source, as LoadCredential names it
    config.write_text("", encoding="utf-8")
    unit = tmp_path / "ottwatch.service"
    unit.write_text(unit_text("--config", str(config)), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    complaints = [line for line in done.stderr.splitlines() if str(unit) in line]
    assert complaints == [], "\n".join(complaints)

    # The check is live: a key systemd does not know is reported against the unit.
    unit.write_text(unit.read_text(encoding="utf-8").replace(
        "[Service]\n", "[Service]\nSystemCallFilter=@no-such-group\n"), encoding="utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60)
    assert any("@no-such-group" in line for line in done.stderr.splitlines()), done.stderr
