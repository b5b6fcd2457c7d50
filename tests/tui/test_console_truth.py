"""What the console promises holds: the palette lists ottwatch's actions, Live opens
on what scored, Review includes blocked events, a user opens as a user."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable

from tests.tui.test_flows import app_on, column, rows, screen_text, settle
from tui.app import VIEWS
from tui.views.drilldown import DrillDown

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def palette_prompts(palette: CommandPalette) -> list[str]:
    options = palette.query_one(CommandList)
    return [str(options.get_option_at_index(n).prompt) for n in range(options.option_count)]


async def open_palette(pilot, query: str) -> list[str]:  # noqa: ANN001
    await pilot.press("ctrl+p")
    await settle(pilot)
    if query:
        await pilot.press(*query)
    for _ in range(100):
        await pilot.pause(0.05)
        if isinstance(pilot.app.screen, CommandPalette) and \
                pilot.app.screen.query_one(CommandList).option_count:
            break
    return palette_prompts(pilot.app.screen)


async def test_the_palette_lists_ottwatch_actions_and_screens(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        shown = " | ".join(await open_palette(pilot, ""))
        for wanted in ("Retrain the models", "Promote the selected model",
                       "Silence the selected alert", "Filter the live stream",
                       *[f"Show {label}" for _tab, label, _view in VIEWS]):
            assert wanted in shown, wanted
        await pilot.press("escape")
        await settle(pilot)
        shown = " | ".join(await open_palette(pilot, "retrain"))
        assert "Retrain the models" in shown
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.query_one("TabbedContent").active == "models"
    assert rows(console_db, "SELECT kind, status FROM commands") == [("retrain", "pending")]


async def test_the_palette_runs_a_view_action_on_its_view(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await open_palette(pilot, "show alerts")
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.query_one("TabbedContent").active == "alerts"
        await open_palette(pilot, "filter the live")
        await pilot.press("enter")
        await settle(pilot)
        assert pilot.app.query_one("TabbedContent").active == "live"
        assert pilot.app.query_one("#filter").display


async def test_live_opens_on_what_scored_and_e_shows_every_event(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = pilot.app.query_one("#stream", DataTable)
        scores = [float(s) for s in column(table, "score")]
        assert scores and min(scores) > 0
        await pilot.press("e")
        await settle(pilot)
        scores = [float(s) for s in column(table, "score")]
        assert 0.0 in scores
        await pilot.press("e")
        await settle(pilot)
        assert min(float(s) for s in column(table, "score")) > 0


async def test_review_queue_includes_blocked_events(console_db: Path) -> None:
    blocked = rows(console_db, "SELECT COUNT(*) FROM assessments a WHERE decision = 'block' "
                   "AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.event_id = a.event_id)")
    assert blocked[0][0] > 0  # the planted scenarios have critical events
    async with app_on(console_db).run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("6")
        await settle(pilot)
        levels = set(column(pilot.app.query_one("#review-table", DataTable), "level"))
        assert "critical" in levels


async def test_a_user_without_an_event_shows_the_user(console_db: Path) -> None:
    async with app_on(console_db, user_id="x-ato").run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert isinstance(pilot.app.screen, DrillDown)
        shown = screen_text(pilot.app.screen)
        assert "unknown event" not in shown and "not scored" not in shown
        assert "x-ato" in shown and "events" in shown
        assert "account.takeover_pattern" in shown
