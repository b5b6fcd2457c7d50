"""Logging to stderr, one line per record; quiet (warnings) by default.

Three formats: `text` (a UTC timestamp with its zone, level, logger, message),
`journal` (a syslog priority prefix `<N>` per line and no timestamp: journald adds
its own; chosen by itself when stderr is the journal stream of `$JOURNAL_STREAM`)
and `json` (one object per line for log collectors). `ottwatch --log-format` picks
one for the whole process, SIGHUP reloads included.

No log line carries a secret: the notification senders' loggers (apprise and the
HTTP clients it uses) mask URLs, tokens and `key=value` secrets in every record
at every level, whichever handler gets it; ottwatch's own handler masks URLs in
every record."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Literal

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


LogFormat = Literal["auto", "text", "journal", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "text", "journal", "json")
_chosen_format: LogFormat = "auto"

# sd-daemon(3): the priority a journal stream line starts with
SYSLOG_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4,
                   logging.INFO: 6, logging.DEBUG: 7}


def utc_timestamp(created: float) -> str:
    """RFC 3339 in UTC with the zone, to the millisecond: 2026-12-04T23:42:07.123Z."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return utc_timestamp(record.created)


class JournalFormatter(logging.Formatter):
    """Every line of the record (a traceback's too) carries the record's priority:
    journald files each line as an entry of its own."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": utc_timestamp(record.created), "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def syslog_priority(levelno: int) -> int:
    """The priority of the nearest standard level at or below `levelno`."""
    at_or_below = [level for level in SYSLOG_PRIORITY if level <= levelno]
    return SYSLOG_PRIORITY[max(at_or_below)] if at_or_below else SYSLOG_PRIORITY[logging.DEBUG]


def stderr_is_journal() -> bool:
    """`$JOURNAL_STREAM` is `DEVICE:INODE` of the journal's stream; stderr is connected
    to it only if they match (a child whose stderr was redirected inherits the variable)."""
    device, sep, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not sep:
        return False
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{stat.st_dev}:{stat.st_ino}" == f"{device}:{inode}"


def choose_log_format(log_format: LogFormat) -> None:
    """The format every later `setup_logging` of this process uses."""
    global _chosen_format
    _chosen_format = log_format


def effective_format(log_format: LogFormat | None = None) -> Literal["text", "journal", "json"]:
    wanted = log_format or _chosen_format
    if wanted == "auto":
        return "journal" if stderr_is_journal() else "text"
    return wanted


FORMATTERS: dict[str, Callable[[], logging.Formatter]] = {
    "text": TextFormatter, "journal": JournalFormatter, "json": JsonFormatter}


def setup_logging(level: str = "warning", log_format: LogFormat | None = None) -> None:
    protect_sender_loggers()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(FORMATTERS[effective_format(log_format)]())
    handler.addFilter(HandlerFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("watchfiles", "asyncio", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
