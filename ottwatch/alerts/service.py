"""What the agent and replay run: the configured sink, and beside the ingest loop
the sink's refresher (silences, acks) and the sender.

The config imports the stages' settings and the stages import this module, so
apprise and the sender are imported where they are used, not at import time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from ottwatch.alerts.settings import AlertSettings
from ottwatch.alerts.sink import AlertSink
from ottwatch.alerts.store import refresh_sink
from ottwatch.clock import wait_at_most

if TYPE_CHECKING:
    from ottwatch.alerts.sender import DeliveryTally

log = logging.getLogger("ottwatch.alerts")


def build_alert_sink(alerts_config: Any, *, deliver: bool = True) -> AlertSink:
    """The sink for `config.alerts`; raises `ChannelError` (a `ConfigError`) for a URL
    or config file apprise cannot load."""
    from ottwatch.alerts.channels import load_channels

    settings = AlertSettings.from_config(alerts_config)
    return AlertSink(settings, load_channels(settings), deliver=deliver)


async def keep_sink_fresh(sink: AlertSink, engine: Engine, stop: asyncio.Event) -> None:
    """Reload silences and acks every `refresh_s` seconds, off the event loop."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(refresh_sink, sink, engine)
        except Exception as exc:  # keep the last known silences; try again next time
            log.error("alerts: silences not reloaded: %s: %s", type(exc).__name__, exc)
        await wait_at_most(stop, sink.settings.refresh_s)


async def run_alerting(engine: Engine, sink: AlertSink, stop: asyncio.Event, *,
                       send: bool, drain: bool = False,
                       tally: DeliveryTally | None = None) -> None:
    """Until `stop`: keep the sink's silences fresh and, with `send`, deliver the outbox
    (`drain`: one last sending pass after `stop`, for replay --send), counting what is
    delivered in `tally`."""
    from ottwatch.alerts.sender import AlertSender

    tasks = [keep_sink_fresh(sink, engine, stop)]
    if send:
        sender = AlertSender(engine, sink.settings, sink.router.channels, tally=tally)
        tasks.append(sender.run(stop, drain=drain))
    await asyncio.gather(*tasks)
