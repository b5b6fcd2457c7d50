"""Channels: one apprise service each, from `[alerts] urls` and `[alerts] config_file`.

A channel's name is stable across restarts (its tags and a short hash of its URL),
so deliveries left pending find their channel again. The URL itself is a secret:
only `masked` (apprise's privacy rendering) is ever printed or logged.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apprise

from ottwatch.alerts.redact import scrub_secrets
from ottwatch.alerts.settings import AlertSettings, split_entry
from ottwatch.config import ConfigError, mask_apprise_url, mask_privacy_url
from ottwatch.config_problems import Problem

APPRISE_LOGGER = "apprise"
ERROR_CHARS = 500
_URL_PARTS = re.compile(r"[/:@?&=#,;+]")


class ChannelError(ConfigError):
    """A channel that cannot be loaded; the message shows the URL masked."""


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    tags: frozenset[str]
    masked: str
    service: Any = field(repr=False, compare=False)
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def receives(self, tags: frozenset[str]) -> bool:
        """A tagged channel gets the routes naming one of its tags; an untagged one
        gets every route that has any target."""
        if not tags:
            return False
        return not self.tags or not self.tags.isdisjoint(tags)

    def describe(self) -> str:
        tags = ",".join(sorted(self.tags))
        return f"{self.name} ({tags}={self.masked})" if tags else f"{self.name} ({self.masked})"


def load_channels(settings: AlertSettings) -> list[Channel]:
    channels: dict[str, Channel] = {}
    for entry in settings.urls:
        channel = _from_entry(entry)
        channels.setdefault(channel.name, channel)
    if settings.config_file:
        for channel in _from_config_file(settings.config_file):
            channels.setdefault(channel.name, channel)
    return list(channels.values())


def unloadable_urls(settings: AlertSettings) -> list[Problem]:
    """`[alerts] urls` entries apprise cannot load, each shown masked."""
    problems = []
    for index, entry in enumerate(settings.urls):
        try:
            _from_entry(entry)
        except ChannelError:
            problems.append(Problem(("urls", index), f"apprise cannot load "
                                    f"'{mask_apprise_url(entry)}' (not an apprise URL, or a "
                                    "service it does not know)"))
    return problems


@contextmanager
def _apprise_quiet() -> Iterator[None]:
    """apprise's "Unparseable URL" lines show parts of a password: parse with it muted."""
    logger = logging.getLogger(APPRISE_LOGGER)
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def _from_entry(entry: str) -> Channel:
    tags, url = split_entry(entry)
    with _apprise_quiet():
        service = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if service is None:
        raise ChannelError(f"[alerts] urls: apprise cannot load {mask_apprise_url(entry)} "
                           "(not an apprise URL, or a service it does not know)")
    return _channel(service, tags, url)


def _from_config_file(path: str) -> list[Channel]:
    if not Path(path).is_file():
        raise ChannelError(f"[alerts] config_file: {path}: no such file")
    config = apprise.AppriseConfig()
    with _apprise_quiet():
        config.add(path)
        services = config.services() if hasattr(config, "services") else config.servers()
    if not services:
        raise ChannelError(f"[alerts] config_file: {path}: no apprise URL loaded from it")
    return [_channel(s, [str(t) for t in s.tags], s.url(privacy=False)) for s in services]


def _channel(service: Any, tags: list[str], url: str) -> Channel:
    masked = mask_privacy_url(service.url(privacy=True))
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    label = "+".join(sorted(tags)) or "all"
    return Channel(name=f"{label}-{digest}", tags=frozenset(tags), masked=masked,
                   service=service, secrets=_secrets(url, masked, service))


def _secrets(url: str, masked: str, service: Any) -> tuple[str, ...]:
    """Parts of the raw URL that the privacy rendering hides, plus the password."""
    shown = set(_URL_PARTS.split(masked))
    hidden = {part for part in _URL_PARTS.split(url) if len(part) >= 4 and part not in shown}
    password = getattr(service, "password", None)
    if isinstance(password, str) and password:
        hidden.add(password)
    return tuple(sorted(hidden, key=len, reverse=True))


class _ThreadLogs(logging.Handler):
    """apprise 1.x: its warnings and errors, kept per sending thread so that concurrent
    sends each get their own error text (1.x notifies one service in the caller's
    thread; 2.x hands each call its own log callback instead)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.by_thread: dict[int, list[str]] = {}
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            lines = self.by_thread.get(record.thread or 0)
        if lines is not None:
            lines.append(record.getMessage())

    def start(self) -> list[str]:
        with self.guard:
            return self.by_thread.setdefault(threading.get_ident(), [])

    def stop(self) -> None:
        with self.guard:
            self.by_thread.pop(threading.get_ident(), None)


_LOGS = _ThreadLogs()
logging.getLogger(APPRISE_LOGGER).addHandler(_LOGS)
_LOG_CALLBACK = "log_callback" in inspect.signature(apprise.Apprise.notify).parameters
_PROBLEM_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})


def notify_channel(channel: Channel, *, title: str, body: str, body_format: str,
                   notify_type: str = "info", attach: str | None = None
                   ) -> tuple[bool, str | None]:
    """Send one notification through one channel (blocking: run it in a worker thread).
    Returns (ok, error) with every secret of the channel masked out of the error."""
    sender = apprise.Apprise()
    sender.add(channel.service)
    lines = _LOGS.start()
    options: dict[str, Any] = {}
    if _LOG_CALLBACK:
        def collect(entry: Any, _service: Any) -> None:
            if str(getattr(entry, "level", "")).upper() in _PROBLEM_LEVELS:
                lines.append(str(entry.message))

        options["log_callback"] = collect
    crash = None
    try:
        if attach is not None:
            options["attach"] = attach
        ok = bool(sender.notify(body=body, title=title, body_format=body_format,
                                notify_type=notify_type, **options))
    except Exception as exc:  # a plugin's bug is one failed delivery, not a dead sender
        ok, crash = False, f"{type(exc).__name__}: {exc}"
    finally:
        _LOGS.stop()
    if ok:
        return True, None
    unique = list(dict.fromkeys(lines))
    error = crash or "; ".join(unique) or "apprise reported a failure"
    return False, scrub_secrets(error, channel.secrets)[:ERROR_CHARS]
