"""One module per command (or command group). A module exports `command`, or
`commands` (a list) when it holds several top-level commands. Modules import
their heavy dependencies lazily, inside the command, so `ottwatch --help` is quick.

The `ottwatch` group is a `LazyGroup`: it knows each command's module and short
help from `COMMANDS` and imports only the module of the command being run, so
`ottwatch tui` does not load the agent, the pipeline and the learning code first.
`tests/test_cli_lazy.py` checks that the table matches the commands themselves."""

from __future__ import annotations

import importlib
from typing import Any

import click

COMMAND_MODULES = (
    "agent", "replay", "eval", "export", "bench", "demo", "tui", "explain", "users", "roi", "geo",
    "regulations", "rings", "alerts", "learning",
    "config", "status", "report",
    "systemd", "fixtures",
)

# command name -> (module under ottwatch.commands, the first sentence of its help:
# what `ottwatch --help` shows, shortened to the terminal's width as click does)
COMMANDS: dict[str, tuple[str, str]] = {
    "agent": ("agent", "Tail FILES (paths or globs; `-` is stdin) and sockets into the "
                       "database, scoring every event."),
    "replay": ("replay", "Run the full pipeline over recorded FILES (plain or .gz, `-` for "
                         "stdin) in order."),
    "eval": ("eval", "Replay labelled scenarios and judge the detections: per reason code "
                     "recall and precision, benign events at high/critical, incidents "
                     "alerted per kind, deadlines, rings and quarantine."),
    "export": ("export", "Write one record per line: events, quarantine, assessments (and, as "
                         "the pipeline produces them, alerts and rings); --since/--until and "
                         "the filters narrow them (alerts and rings: those alive in the "
                         "window)."),
    "bench": ("bench", "Generate a synthetic stream and push it through the agent loop "
                       "(parse, validate, pipeline, SQLite) from a file, reporting events/s "
                       "and per-event latency (read to commit) percentiles."),
    "demo": ("demo", "Stream a realistic synthetic OTT log while the real agent tails it into "
                     "SQLite; on a terminal the console opens on it."),
    "tui": ("tui", "Open the console: live risk stream, alerts, rings, regulations, models, "
                   "review queue and audit."),
    "explain": ("explain", "Show EVENT_ID, its score, level, decision and threshold, and every "
                           "reason with its weight and detail; or, given --since/--until and "
                           "filters instead, each event they find."),
    "users": ("users", "Users' segments: new, normal, power, inactive, dormant, suspicious."),
    "roi": ("roi", "Avoided fines, churn and legal costs from the violations and incidents in "
                   "the database, against the running costs: ROI %, net benefit and payback "
                   "months."),
    "geoip": ("geo", "GeoIP databases and anonymizer lists: what ottwatch knows about an "
                     "address."),
    "feeds": ("geo", "Anonymizer lists fetched from [geo] feed_urls."),
    "regulations": ("regulations", "Show the privacy-regulation table in effect: deadlines, "
                                   "consent model, children's age and maximum fine per "
                                   "regulation, each with its source."),
    "rings": ("rings", "Fraud rings, riskiest first: size, risk, what the accounts share, "
                       "first/last seen."),
    "alerts": ("alerts", "Alerts: list, show, acknowledge, silence; test the notification "
                         "channels."),
    "label": ("learning", "Label EVENT_ID as a confirmed violation or benign (an outcome the "
                          "models learn from)."),
    "retrain": ("learning", "Train MODEL (ensemble, predictor or all) now; a new version "
                            "becomes active only if it is not worse than the active one on "
                            "the same held-out split."),
    "models": ("learning", "Model versions: status, held-out metrics, drift."),
    "predict": ("learning", "USER_ID's violation likelihood from recent events, and the "
                            "regulation most at risk."),
    "config": ("config", "Inspect the configuration."),
    "report": ("report", "Reports: incident (a user, ring, IP or alert), compliance (a "
                         "period), models."),
    "status": ("status", "Is the agent up, stopped or down; each source's position and last "
                         "line, lag, the outbox, the last retrain and the last errors."),
    "systemd-unit": ("systemd", "Print a systemd unit for `ottwatch agent` (Type=notify, "
                                "watchdog, sandboxed)."),
    "fixtures": ("fixtures", "Synthetic data for demos, tests and benchmarks."),
}


def module_commands(module_name: str) -> list[click.Command]:
    """The top-level commands a command module defines."""
    module = importlib.import_module(f"ottwatch.commands.{module_name}")
    return list(getattr(module, "commands", None) or [module.command])


def register(group: click.Group) -> None:
    """Every command, imported now (a plain, eager group)."""
    for name in COMMAND_MODULES:
        for command in module_commands(name):
            group.add_command(command)


class LazyGroup(click.Group):
    """A group whose commands are imported when one is run (or looked up), not when the
    group is made. `ottwatch --help` lists them from `COMMANDS` without importing any;
    `commands` (the whole mapping) imports them all."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None,
                 **kwargs: Any) -> None:
        self._loaded: dict[str, click.Command] = {}
        super().__init__(*args, **kwargs)
        self.lazy = dict(COMMANDS if lazy is None else lazy)

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        for name in self.lazy:
            self._load(name)
        return self._loaded

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._loaded = dict(value)

    def _load(self, name: str) -> click.Command | None:
        if name not in self._loaded and name in self.lazy:
            for command in module_commands(self.lazy[name][0]):
                self._loaded.setdefault(command.name or "", command)
            if name not in self._loaded:
                raise RuntimeError(f"ottwatch.commands.{self.lazy[name][0]} defines no "
                                   f"command {name!r}")
        return self._loaded.get(name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.lazy, *self._loaded})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click formats them, from the short helps in the table (commands already
        imported speak for themselves)."""
        commands: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self._loaded.get(name) or click.Command(name, help=self.lazy[name][1])
            if not command.hidden:
                commands.append((name, command))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name, command in commands])
