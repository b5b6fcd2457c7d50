"""`ottwatch tui`: the console, on the agent's database or any other."""

from __future__ import annotations

import click

from ottwatch.commands.common import DATABASE, config_option, db_url, load, open_existing
from ottwatch.config import mask_url


@click.command("tui")
@config_option
@click.option("--db", type=DATABASE, default=None, metavar="PATH|URL",
              help="Database path or URL (default: [storage] url). With --db and no --config, "
                   "no config file is read: the console needs nothing else from it.")
@click.option("--alert", "alert_id", default=None, help="Open straight at this alert.")
@click.option("--user", "user_id", default=None, help="Open straight at this user.")
def command(config_path: str | None, db: str | None, alert_id: str | None,
            user_id: str | None) -> None:
    """Open the console: live risk stream, alerts, rings, regulations, models,
    review queue and audit. Works whether or not the agent is running."""
    from tui.app import OttwatchApp

    # The full config (every section validated) imports the whole pipeline's settings;
    # the console only reads the database, so `--db` alone skips it.
    url = db_url(db) if db and not config_path else load(config_path, db).storage.url
    engine = open_existing(url)
    OttwatchApp(engine, database=mask_url(url), alert_id=alert_id, user_id=user_id).run()
