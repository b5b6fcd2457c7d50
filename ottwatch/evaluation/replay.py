"""The replay `ottwatch eval` judges: the code path of `ottwatch replay` (the agent's
pipeline over the log on event time, alerts recorded, not sent) into a new database."""

from __future__ import annotations

import asyncio
import importlib.resources
from pathlib import Path

from ottwatch.config import Config

# The fixtures package ships in the wheel with its data (pyproject package-data).
FIXTURES = Path(str(importlib.resources.files("fixtures")))
FIXTURE_GEO = {
    "city_db": FIXTURES / "data" / "GeoLite2-City.mmdb",
    "asn_db": FIXTURES / "data" / "GeoLite2-ASN.mmdb",
    "anonymous_db": FIXTURES / "data" / "GeoIP2-Anonymous-IP.mmdb",
}
FIXTURE_ANONYMIZERS = FIXTURES / "anonymizers.txt"


def with_fixture_geo(config: Config) -> Config:
    """The fixture GeoIP databases and anonymizer list, which resolve every address the
    generators use, where the config names none of its own."""
    geo = config.geo
    if not geo.city_db:
        for name, path in FIXTURE_GEO.items():
            setattr(geo, name, str(path))
        if not geo.anonymizer_lists:
            geo.anonymizer_lists = [str(FIXTURE_ANONYMIZERS)]
    return config


def replay_into(config: Config, log: Path, db: Path) -> None:
    """Replay `log` into the new SQLite database `db` (which must not exist)."""
    from agent.replay import run_recorded
    from ottwatch.commands.common import db_url

    if db.exists():
        raise FileExistsError(f"{db} exists; eval replays into a new database")
    config = config.model_copy(deep=True)
    config.storage.url = db_url(str(db))
    asyncio.run(run_recorded(config, [str(log)], scoring=True, send=False))
