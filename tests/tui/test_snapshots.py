"""Every screen of the console, at 80x24 and at a large size, on the fixture database."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from storage import open_database
from tui.app import OttwatchApp

SIZES = {"small": (80, 24), "large": (160, 48)}
SCREENS = {
    "live": [],
    "alerts": ["2"],
    "rings": ["3"],
    "regulations": ["4"],
    "models": ["5"],
    "review": ["6"],
    "audit": ["7"],
    "drilldown": ["enter"],
    "help": ["question_mark"],
}


async def settle(pilot: Pilot) -> None:
    """Until every database read has landed on the screen."""
    for _ in range(200):
        await pilot.pause(0.05)
        if not any(w.is_running for w in pilot.app.workers):
            break
    await pilot.pause(0.1)


def make_app(db: Path) -> OttwatchApp:
    # A long refresh interval: the picture must not change while it is taken.
    return OttwatchApp(open_database(f"sqlite:///{db}"), database="console.db", refresh_s=3600)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare, console_db_template: Path, screen: str, size: str) -> None:
    async def before(pilot: Pilot) -> None:
        await settle(pilot)
        for key in SCREENS[screen]:
            await pilot.press(key)
            await settle(pilot)

    assert snap_compare(make_app(console_db_template), terminal_size=SIZES[size],
                        run_before=before)
