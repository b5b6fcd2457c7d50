"""The console's forensic keys: a time window and the filters on Live and Alerts, and
`i` writing the incident report of the selected user or ring."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import html5lib
import pytest
from textual.widgets import DataTable, Input

from tests.tui.test_flows import app_on, column, rows, settle

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def filter_with(pilot, box: str, text: str) -> None:  # noqa: ANN001
    await pilot.press("slash")
    await settle(pilot)
    pilot.app.query_one(box, Input).value = text
    await pilot.press("enter")
    await settle(pilot)


async def test_live_takes_a_window_and_a_ring(console_db: Path) -> None:
    [(first, last)] = rows(console_db, "SELECT MIN(ts), MAX(ts) FROM assessments "
                                       "WHERE score > 0")
    middle = (first + last) / 2
    async with app_on(console_db).run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        stamp = datetime.fromtimestamp(middle, UTC).isoformat().replace("+00:00", "Z")
        await filter_with(pilot, "#filter", f"until:{stamp}")
        users = set(column(pilot.app.query_one("#stream", DataTable), "user"))
        expected = {u for (u, ts) in rows(console_db, "SELECT user_id, ts FROM assessments "
                                                       "WHERE score > 0") if ts < middle}
        assert users and users <= expected
        ring = rows(console_db, "SELECT ring_id, members FROM rings LIMIT 1")
        if ring:
            await filter_with(pilot, "#filter", f"ring:{ring[0][0]}")
            shown = set(column(pilot.app.query_one("#stream", DataTable), "user"))
            assert shown and shown <= set(json.loads(ring[0][1]))
        await filter_with(pilot, "#filter", "ring:R-none")
        assert any("no ring 'R-none'" in n.message for n in pilot.app._notifications)


async def test_i_on_an_alert_writes_its_incident_report(console_db: Path) -> None:
    async with app_on(console_db).run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await filter_with(pilot, "#alerts-filter", "level:high")
        table = pilot.app.query_one("#alerts-table", DataTable)
        assert set(column(table, "severity")) <= {"high", "critical"} and table.row_count
        await pilot.press("i")
        for _ in range(100):
            await pilot.pause(0.05)
            written = list((console_db.parent / "reports").glob("incident-*.html"))
            if written:
                break
        [report] = written
        assert report.stat().st_mode & 0o777 == 0o600
        document = html5lib.parse(report.read_text(encoding="utf-8"))
        title = "".join(document.find(".//{http://www.w3.org/1999/xhtml}h1").itertext())
        assert title.startswith("Incident report: ")
