"""A real HTTP receiver for apprise `json://` URLs, and a pipeline harness that
commits batches (alerts and outbox rows) the way the agent does."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, select

from ottwatch.alerts.channels import Channel, load_channels
from ottwatch.alerts.sender import AlertSender
from ottwatch.alerts.settings import AlertSettings
from ottwatch.alerts.sink import AlertSink
from ottwatch.events import Event, ts_to_text
from ottwatch.pipeline import Batch, Pipeline
from storage import open_database
from storage.tables import AlertRow, DeliveryRow
from storage.writer import BatchWriter

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ALERT_ID = re.compile(r"al-[0-9a-f]{16}")
ROUTE_TAGS = ("chat", "email", "sms", "pager")
PASSWORD = "hunter2-s3cret"


class Receiver:
    """An HTTP server on 127.0.0.1 that records what apprise posts, per path. It can
    refuse connections (stop listening), answer 500, and come back on the same port."""

    def __init__(self, answer_after_s: float = 0.0) -> None:
        self.port = 0
        self.status = 200
        self.answer_after_s = answer_after_s  # recorded on arrival, answered this late
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.refused_posts = 0
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.listen()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                with receiver.lock:
                    status = receiver.status
                    if status == 200:
                        receiver.posts.append((self.path, payload))
                    else:
                        receiver.refused_posts += 1
                time.sleep(receiver.answer_after_s)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def listen(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    def refuse(self) -> None:
        """Stop listening: connections are refused until `listen()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path: str, *, password: str = PASSWORD) -> str:
        return f"json://ottwatch:{password}@127.0.0.1:{self.port}/{path}"

    def entries(self, tags: Sequence[str] = ROUTE_TAGS) -> list[str]:
        """`tag=URL` entries, one path per tag."""
        return [f"{tag}={self.url(tag)}" for tag in tags]

    def received(self, path: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [p for at, p in self.posts if path is None or at == f"/{path}"]

    def alert_ids(self, path: str) -> Counter[str]:
        """How many times each alert id arrived on `path` (from titles and bodies)."""
        counts: Counter[str] = Counter()
        for post in self.received(path):
            counts.update(set(ALERT_ID.findall(post.get("title", "") + post.get("message", ""))))
        return counts

    def paths(self) -> set[str]:
        with self.lock:
            return {at.lstrip("/") for at, _ in self.posts}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.refuse()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    db = open_database(f"sqlite:///{tmp_path / 'ottwatch.db'}")
    yield db
    db.dispose()


def event(n: int, user: str = "u-1", *, ts: float = T0, score: float = 70.0,
          code: str = "geo.anonymizer", detail: str = "scripted",
          more: Sequence[tuple[str, float, str]] = (), segment: str | None = None,
          about: str | None = None, **fields: Any) -> Event:
    """An event the scripted stage scores `score` for `code` (plus `more` reasons), its
    user in `segment`."""
    return Event(event_id=f"ev-{n:05d}", ts=ts, timestamp=ts_to_text(ts), user_id=user,
                 event_type="login",
                 extra_metadata={"score": score, "code": code, "detail": detail,
                                 "more": list(more), "segment": segment, "about": about},
                 **fields)


class Scripted:
    """A stage that gives each event the reason its metadata asks for."""

    name: ClassVar[str] = "scripted"

    def process(self, batch: Batch) -> None:
        batch.columns["segment"] = [(e.extra_metadata or {}).get("segment") for e in batch.events]
        for i, e in enumerate(batch.events):
            meta = e.extra_metadata or {}
            if meta.get("score"):
                batch.add(i, meta["code"], float(meta["score"]), meta.get("detail", ""),
                          meta.get("about"))
            for code, weight, detail in meta.get("more", []):
                batch.add(i, code, weight, detail)


class Harness:
    """Pipeline (scripted stage, default scorer: medium >= 40, high >= 60, critical >= 80)
    -> alert sink -> one committed transaction per batch."""

    def __init__(self, engine: Engine, settings: AlertSettings, *, deliver: bool = True,
                 stages: Sequence[Any] = (), event_time: bool = False) -> None:
        self.engine = engine
        self.settings = settings
        self.channels: list[Channel] = load_channels(settings)
        self.sink = AlertSink(settings, self.channels, deliver=deliver, event_time=event_time)
        self.pipeline = Pipeline([Scripted(), *stages], sinks=[self.sink])
        self.writer = BatchWriter(engine)

    def commit(self, batch: Batch) -> Batch:
        self.writer.write(events=batch.events, quarantined=[], assessments=batch.assessments,
                          positions=[], now=batch.now, upserts=batch.upserts)
        return batch

    def run(self, events: list[Event], now: float | None = None) -> Batch:
        at = now if now is not None else max(e.ts for e in events)
        return self.commit(self.pipeline.run(events, at))

    def tick(self, now: float) -> Batch:
        return self.commit(self.pipeline.tick(now))

    def sender(self, clock: list[float], channels: list[Channel] | None = None) -> AlertSender:
        return AlertSender(self.engine, self.settings,
                           channels if channels is not None else self.channels,
                           clock=lambda: clock[0], rng=random.Random(7))

    def alerts(self) -> list[dict[str, Any]]:
        table = AlertRow.__table__
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]

    def deliveries(self) -> list[dict[str, Any]]:
        table = DeliveryRow.__table__
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def settings_for(receiver: Receiver, **overrides: Any) -> AlertSettings:
    values: dict[str, Any] = {"urls": receiver.entries(), "group_wait_s": 0.0}
    values.update(overrides)
    return AlertSettings(**values)
