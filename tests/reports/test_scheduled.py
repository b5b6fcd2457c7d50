"""`[reports] schedule`: when the cron time comes, the agent's report job writes each
configured report of the period (0600) and sends it through the alert channels with
the file attached (a real apprise json:// post to a local receiver)."""

from __future__ import annotations

import base64
import shutil
from datetime import UTC, datetime
from pathlib import Path

import html5lib
import pytest

from agent.report_job import ReportJob
from ottwatch.alerts.channels import load_channels
from ottwatch.alerts.settings import AlertSettings
from ottwatch.commands.common import load
from ottwatch.config import ConfigError
from storage import open_database
from tests.alerts.conftest import Receiver

MONDAY_0600 = datetime(2026, 10, 5, 6, 0, tzinfo=UTC).timestamp()


def test_reports_are_written_and_sent_when_their_time_comes(replayed: Path, tmp_path: Path
                                                            ) -> None:
    db = tmp_path / "r.db"
    shutil.copy(replayed, db)
    config = load(None, str(db))
    config.reports.schedule = "0 6 * * 1"
    config.reports.kinds = ["compliance", "models"]
    config.reports.tags = ["email"]
    receiver = Receiver()
    settings = AlertSettings(urls=receiver.entries(["chat", "email"]))
    clock = [MONDAY_0600 - 60]
    job = ReportJob(open_database(config.storage.url), config, load_channels(settings),
                    clock=lambda: clock[0])
    assert job.run_if_due() is None  # 05:59
    clock[0] = MONDAY_0600 + 20
    done = job.run_if_due()
    assert done is not None and [d["kind"] for d in done] == ["compliance", "models"]
    assert job.run_if_due() is None and job.next_at == MONDAY_0600 + 7 * 86_400
    for report in done:
        path = Path(report["path"])
        assert path.parent == tmp_path / "reports" and path.suffix == ".html"
        assert path.stat().st_mode & 0o777 == 0o600
        assert html5lib.parse(path.read_text(encoding="utf-8")).find(
            ".//{http://www.w3.org/1999/xhtml}h1") is not None
    assert receiver.received("chat") == []  # only the tagged channels
    posts = receiver.received("email")
    assert len(posts) == 2
    for post, report in zip(posts, done, strict=True):
        [attachment] = post["attachments"]
        assert attachment["filename"] == Path(report["path"]).name
        assert base64.b64decode(attachment["base64"]) == Path(report["path"]).read_bytes()
        assert "Compliance report" in posts[0]["title"]


def test_a_bad_schedule_or_period_is_a_config_error(tmp_path: Path) -> None:
    for text, says in (('[reports]\nschedule = "61 * * * *"\n', "schedule"),
                       ('[reports]\nperiod = "0d"\n', "period"),
                       ('[reports]\nkinds = ["incident"]\n', "kinds")):
        config = tmp_path / "c.toml"
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=says):
            load_config_file(config)


def load_config_file(path: Path) -> object:
    from ottwatch.config import load_config

    return load_config(str(path))
