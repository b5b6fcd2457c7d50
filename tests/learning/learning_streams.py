"""Seeded test streams: benign traffic from `fixtures.generator.StreamGenerator`
with a violation pattern planted in it, and helpers to run them through stages."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from fixtures.generator import StreamGenerator, User
from fixtures.places import PLACES
from ottwatch.events import Event, parse_line
from ottwatch.geo.model import GeoHit
from ottwatch.pipeline import Batch

HOUR_S = 3600.0
DAY_S = 86_400.0
PATTERN = "export-at-3am"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def burst(user: User, start: float, rng: random.Random, tag: str) -> list[dict[str, object]]:
    """The planted violation: a burst of `data_export` between 03:00 and 04:00 UTC
    from a device the user never used, with consent withdrawn."""
    device = f"dev-{tag}-{rng.randrange(10**9):09d}"
    records = []
    at = start
    for k in range(rng.randint(3, 6)):
        at += rng.uniform(5.0, 60.0)
        records.append({
            "event_id": f"{tag}-{k}", "timestamp": iso(at), "user_id": user.user_id,
            "event_type": "data_export", "device_id": device, "ip_address": user.ip,
            "region": user.place.region, "has_consent": False,
            "subscription_plan": user.plan, "bytes": rng.randrange(5, 60) * 1_000_000,
        })
    return records


@dataclass
class Stream:
    records: list[dict[str, object]]
    planted: set[str]  # event ids of the pattern

    def lines(self) -> list[bytes]:
        return [orjson.dumps(r) for r in self.records]

    def events(self) -> list[Event]:
        parsed = [parse_line(line) for line in self.lines()]
        assert all(isinstance(e, Event) for e in parsed)
        return parsed  # type: ignore[return-value]

    def write(self, path: Path) -> Path:
        path.write_bytes(b"\n".join(self.lines()) + b"\n")
        return path


def planted_stream(generator: StreamGenerator, n: int, incidents: int, *, seed: int,
                   users: Sequence[User], tag: str) -> Stream:
    """`n` benign events from the generator, then `incidents` bursts spread over the
    days they cover, one per user of `users`, merged in time order."""
    benign = [orjson.loads(line) for line in generator.lines(n)]
    first = datetime.fromisoformat(benign[0]["timestamp"]).timestamp()
    last = datetime.fromisoformat(benign[-1]["timestamp"]).timestamp()
    rng = random.Random(seed)
    planted: list[dict[str, object]] = []
    days = [d for d in range(int(first // DAY_S), int(last // DAY_S) + 1)
            if first <= d * DAY_S + 4 * HOUR_S and d * DAY_S + 3 * HOUR_S <= last]
    assert days, "the stream must span a 03:00-04:00 UTC hour"
    for k, user in enumerate(users[:incidents]):
        day = days[k % len(days)]
        planted += burst(user, day * DAY_S + 3 * HOUR_S + rng.uniform(0, 3000), rng,
                         f"{tag}{k:03d}")
    records = sorted(benign + planted, key=lambda r: str(r["timestamp"]))
    return Stream(records, {str(r["event_id"]) for r in planted})


class PlaceGeo:
    """A geo stage for tests: the generator's IP blocks -> their places."""

    name = "geo"

    def __init__(self) -> None:
        self.hits = {p.cidr.split(".0.0/")[0]: GeoHit(country=p.country, city=p.city,
                                                      lat=p.lat, lon=p.lon) for p in PLACES}

    def process(self, batch: Batch) -> None:
        hits = self.hits
        batch.columns["geo"] = [
            hits.get(".".join(e.ip_address.split(".")[:2])) if e.ip_address else None
            for e in batch.events]


def batches(events: Sequence[Event], size: int = 1000) -> Iterator[list[Event]]:
    for start in range(0, len(events), size):
        yield list(events[start:start + size])


def run_stages(stages: Iterable[object], events: Sequence[Event], size: int = 1000
               ) -> list[Batch]:
    out = []
    stages = list(stages)
    for chunk in batches(events, size):
        batch = Batch(events=chunk, now=chunk[-1].ts)
        for stage in stages:
            stage.process(batch)  # type: ignore[attr-defined]
        out.append(batch)
    return out


@dataclass
class World:
    """A week of benign traffic with 14 planted bursts (`train`), then two more days
    with 40 bursts by other users (`held_out`)."""

    generator: StreamGenerator
    train: Stream
    held_out: Stream

    @property
    def now(self) -> float:
        return float(self.train.events()[-1].ts) + 1.0


def make_world() -> World:
    generator = StreamGenerator(seed=3, users=1000, rate_per_s=0.06)
    train = planted_stream(generator, 40_000, 14, seed=1, users=generator.users[:14], tag="a")
    held_out = planted_stream(generator, 10_000, 40, seed=2, users=generator.users[100:140],
                              tag="b")
    return World(generator, train, held_out)


def store(engine: object, events: Sequence[Event], stages: Sequence[object] = ()) -> None:
    """Events and their assessments into the database, as the agent commits them."""
    from ottwatch.pipeline import Pipeline
    from storage.writer import BatchWriter

    writer = BatchWriter(engine)  # type: ignore[arg-type]
    pipeline = Pipeline(list(stages))  # type: ignore[arg-type]
    for chunk in batches(events, 2000):
        batch = pipeline.run(chunk, chunk[-1].ts)
        writer.write(events=chunk, quarantined=[], assessments=batch.assessments,
                     positions=[], now=chunk[-1].ts)
