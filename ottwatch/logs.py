"""Logging to stderr, one line per record; quiet (warnings) by default.

No log line carries a secret: the notification senders' loggers (apprise and the
HTTP clients it uses) mask URLs, tokens and `key=value` secrets in every record
at every level, whichever handler gets it; ottwatch's own handler masks URLs in
every record."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from ottwatch.alerts.redact import mask_log_message, mask_urls

# apprise logs webhook URLs with their tokens at debug; urllib3 logs request paths.
# A logger's filters see only the records made on it, so each logger is named.
SENDER_LOGGERS = ("apprise", "urllib3.connectionpool", "requests")


class SecretFilter(logging.Filter):
    """Rewrites a record's message with `mask` (the record is kept, never dropped)."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_ottwatch_masked", None) is self.mask:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = self.mask(message), None
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        record.exc_info = None  # the traceback is kept, masked, in exc_text
        record._ottwatch_masked = self.mask  # type: ignore[attr-defined]
        return True


class HandlerFilter(logging.Filter):
    """On ottwatch's handler: the senders' (and their children's) records fully masked,
    every other record's URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        sender = record.name.split(".")[0] in {n.split(".")[0] for n in SENDER_LOGGERS}
        return (SENDER_FILTER if sender else URL_FILTER).filter(record)


SENDER_FILTER = SecretFilter(mask_log_message)
URL_FILTER = SecretFilter(mask_urls)


def protect_sender_loggers() -> None:
    """Idempotent: the senders' loggers mask every record they are given."""
    for name in SENDER_LOGGERS:
        logger = logging.getLogger(name)
        if SENDER_FILTER not in logger.filters:
            logger.addFilter(SENDER_FILTER)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes, not the stream of the
    moment it was made (a caller that swaps stderr, as click's test runner does, would
    leave it writing to a closed file)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def setup_logging(level: str = "warning") -> None:
    protect_sender_loggers()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.addFilter(HandlerFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("watchfiles", "asyncio", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
