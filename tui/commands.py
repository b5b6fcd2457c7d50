"""The command palette's ottwatch commands: every screen and every action the keys
give, each run where its key would run it (the action's view is shown first)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import OttwatchApp


class PaletteCommand(NamedTuple):
    title: str
    help: str
    tab: str | None  # the view the action belongs to; None: the app's own
    action: str  # an action of that view (or of the app)


ACTIONS: tuple[PaletteCommand, ...] = (
    PaletteCommand("Filter the live stream", "level:, code:, user:, region: (key /)",
                   "live", "filter"),
    PaletteCommand("Every event / scored only", "Live shows what scored; toggle every event "
                   "(key e)", "live", "toggle_every"),
    PaletteCommand("Pause / follow the live stream", "key p", "live", "toggle_follow"),
    PaletteCommand("Acknowledge the selected alert", "key a", "alerts", "ack"),
    PaletteCommand("Silence the selected alert", "for a duration, with a reason (key s)",
                   "alerts", "silence"),
    PaletteCommand("Unsilence the selected alert", "key u", "alerts", "unsilence"),
    PaletteCommand("Retrain the models", "the running agent retrains (key r)",
                   "models", "retrain"),
    PaletteCommand("Promote the selected model", "key P", "models", "promote"),
    PaletteCommand("Roll back the selected model", "key R", "models", "rollback"),
    PaletteCommand("Label the selected event a violation", "Review queue (key v)",
                   "review", "label('violation')"),
    PaletteCommand("Label the selected event benign", "Review queue (key b)",
                   "review", "label('benign')"),
    PaletteCommand("Help", "every key (key ?)", None, "help"),
)


def palette_commands() -> tuple[PaletteCommand, ...]:
    """A "Show" command for each screen, then the actions."""
    from tui.app import VIEWS

    screens = tuple(PaletteCommand(f"Show {label}", f"the {label} screen (key {n})", tab, "")
                    for n, (tab, label, _view) in enumerate(VIEWS, start=1))
    return screens + ACTIONS


class OttwatchCommands(Provider):
    async def discover(self) -> Hits:
        for command in palette_commands():
            yield DiscoveryHit(command.title, self._runner(command), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands():
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), self._runner(command),
                          help=command.help)

    def _runner(self, command: PaletteCommand) -> partial[None]:
        return partial(run, self.app, command)  # type: ignore[arg-type]


def run(app: OttwatchApp, command: PaletteCommand) -> None:
    """Back on the main screen, show the command's view and run its action there."""
    while len(app.screen_stack) > 1:
        app.pop_screen()
    if command.tab is not None:
        app.action_show_tab(command.tab)
    if command.action:
        target = app if command.tab is None else app.query_one(f"#{command.tab}-view")
        app.call_later(app.run_action, command.action, target)
