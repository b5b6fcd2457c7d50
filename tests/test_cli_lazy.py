"""The `ottwatch` group loads a command's module only when that command runs; its
table of names and short helps must match the commands themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ottwatch.cli import cli
from ottwatch.commands import COMMAND_MODULES, COMMANDS, LazyGroup, module_commands, register


def eager_commands() -> dict[str, tuple[str, click.Command]]:
    found = {}
    for module in COMMAND_MODULES:
        for command in module_commands(module):
            found[command.name or ""] = (module, command)
    return found


def test_the_table_names_every_command_and_its_module() -> None:
    assert {name: module for name, (module, _) in eager_commands().items()} == \
        {name: module for name, (module, _) in COMMANDS.items()}


@pytest.mark.parametrize("limit", [20, 45, 60, 94, 300])
def test_the_table_short_helps_are_those_of_the_commands(limit: int) -> None:
    for name, (_module, command) in eager_commands().items():
        stub = click.Command(name, help=COMMANDS[name][1])
        assert stub.get_short_help_str(limit) == command.get_short_help_str(limit), name
        assert not command.hidden and not command.deprecated


@pytest.mark.parametrize("width", [60, 80, 100])
def test_help_is_what_an_eager_group_prints(width: int) -> None:
    eager = click.Group(name="ottwatch", help=cli.help,
                        context_settings=dict(cli.context_settings))
    eager.params = list(cli.params)
    register(eager)
    lazy = LazyGroup(name="ottwatch", help=cli.help, params=list(cli.params),
                     context_settings=dict(cli.context_settings))
    runner = CliRunner()
    expected = runner.invoke(eager, ["--help"], terminal_width=width)
    shown = runner.invoke(lazy, ["--help"], terminal_width=width)
    assert shown.exit_code == 0 and shown.output == expected.output
    assert "tui" in shown.output and "systemd-unit" in shown.output


def python_prints(code: str) -> str:
    """What `code` prints, run in a fresh interpreter (whose imports start empty)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_running_one_command_imports_only_its_module() -> None:
    code = ("import sys\n"
            "from ottwatch.cli import cli\n"
            "try:\n"
            "    cli(['users', '--help'], prog_name='ottwatch')\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('ottwatch.commands.')))\n")
    out = python_prints(code).splitlines()[-1]
    assert out == "['ottwatch.commands.common', 'ottwatch.commands.users']" or \
        out == "['ottwatch.commands.users']"


def test_the_console_command_does_not_import_the_pipeline() -> None:
    code = ("import sys\n"
            "from ottwatch.cli import cli\n"
            "cli.get_command(None, 'tui')\n"
            "print(any(m.startswith(('ottwatch.stages', 'ottwatch.rings', 'networkx'))"
            " for m in sys.modules))\n")
    assert python_prints(code) == "False"


def test_the_console_does_not_import_the_line_decoder() -> None:
    code = ("import sys\n"
            "import tui.app\n"
            "print(sorted(m for m in ('msgspec', 'ottwatch.wire') if m in sys.modules))\n")
    assert python_prints(code) == "[]"


def test_every_command_is_still_reachable_through_the_commands_mapping() -> None:
    group = LazyGroup(name="ottwatch")
    assert set(group.commands) == set(COMMANDS)
    assert group.get_command(click.Context(group), "nope") is None


def test_reading_the_config_does_not_import_networkx_or_the_alert_sink(tmp_path: Path) -> None:
    """`ottwatch tui` without --db validates the whole config: the stages' settings,
    not their stages."""
    config = tmp_path / "ottwatch.toml"
    config.write_text("[rings]\nmin_ring_size = 6\n", encoding="utf-8")
    code = ("import sys\n"
            "from ottwatch.commands.common import load\n"
            f"config = load({str(config)!r}, None)\n"
            "print(config.rings.min_ring_size,"
            " sorted(m for m in ('networkx', 'ottwatch.alerts.service', 'ottwatch.rings.stage')"
            " if m in sys.modules))\n")
    assert python_prints(code) == "6 []"
