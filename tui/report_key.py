"""The console's `i` key: the incident report of the selected user, ring or alert,
written as one HTML file into `reports/` beside the database (the console only reads
the database; the report is a file of its own)."""

from __future__ import annotations

import time
from typing import Any

from textual.app import App

from ottwatch.reports.files import default_folder, write_report


def write_incident_report(app: App[Any], engine: Any, kind: str, value: str) -> None:
    """Start writing it off the UI thread; a notification says where it went."""
    app.run_worker(lambda: _write(app, engine, kind, value), thread=True, group="report",
                   name=f"report {kind}")


def _write(app: App[Any], engine: Any, kind: str, value: str) -> None:
    from ottwatch.reports.gather import SubjectNotFound, incident_report
    from ottwatch.reports.render import render

    try:
        report = incident_report(engine, kind, value)
        now = time.time()
        path = write_report(default_folder(engine.url.database), f"incident-{kind}-{value}",
                            now, "html", render(report, "html", written=now))
    except SubjectNotFound as exc:
        app.call_from_thread(app.notify, str(exc), severity="error", markup=False)
        return
    app.call_from_thread(app.notify, f"incident report written: {path}",
                         title="report", markup=False)
