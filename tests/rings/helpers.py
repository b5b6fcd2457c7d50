"""Events for ring tests: background users with their own devices and IPs, rings that
share a device and a payment method, crowds behind one carrier-NAT address."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from ottwatch.events import Event, ts_to_text
from ottwatch.pipeline import Batch
from ottwatch.rings import RingSettings, RingStage

DAY = 86_400.0
START = datetime(2026, 11, 2, 12, tzinfo=UTC).timestamp()
NAT_IP = "100.64.0.1"
RING_DEVICE = "dev-shared-fire-tv"
RING_PAYMENT = "pm-fp-9f8e7d6c5b4a1234"

_count = 0


def event(user_id: str, ts: float = START, event_type: str = "play", **fields: Any) -> Event:
    global _count
    _count += 1
    return Event(event_id=f"e-{_count}", ts=ts, timestamp=ts_to_text(ts), user_id=user_id,
                 event_type=event_type, **fields)


def background(count: int, ts: float = START, prefix: str = "bg") -> Iterator[Event]:
    """Unrelated users: their own device, home IP and payment method each."""
    for n in range(count):
        user = f"{prefix}-{n:05d}"
        yield event(user, ts + n, "login", device_id=f"dev-{user}",
                    ip_address=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
        yield event(user, ts + n + 1, "purchase", device_id=f"dev-{user}",
                    payment_fingerprint=f"pm-{user}")


def ring(members: Iterable[str], ts: float = START, *, ip: str | None = None,
         event_type: str = "purchase") -> Iterator[Event]:
    """Accounts sharing one device and one payment method (and `ip`, or one each)."""
    for n, user in enumerate(members):
        yield event(user, ts + n, event_type, device_id=RING_DEVICE,
                    payment_fingerprint=RING_PAYMENT,
                    ip_address=ip or f"172.16.{n // 256}.{n % 256}")


def nat_crowd(count: int, ts: float = START) -> Iterator[Event]:
    """`count` unrelated users behind one carrier-NAT address."""
    for n in range(count):
        user = f"nat-{n:05d}"
        yield event(user, ts + n, "play", device_id=f"dev-{user}", ip_address=NAT_IP)


def members(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n:02d}" for n in range(count)]


def run(stage: RingStage, events: Iterable[Event], now: float | None = None,
        *, detect: bool = True) -> Batch:
    """One batch through `process`, then (when `detect`) a full detection pass."""
    listed = list(events)
    if now is None:
        now = max((e.ts for e in listed), default=START)
    batch = Batch(events=listed, now=now)
    stage.process(batch)
    if detect:
        stage.detect(batch)
    return batch


def new_stage(**settings: Any) -> RingStage:
    """A stage whose passes the test runs itself (`run(detect=True)`), unless the test
    sets `detect_interval_s` to see passes happen at event-time boundaries."""
    settings.setdefault("detect_interval_s", 30 * 86400)
    return RingStage(RingSettings(**settings))
