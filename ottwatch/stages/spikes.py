"""`velocity.access_spike` on several time scales: a scraper's 5-10 requests a minute
for an hour are nothing in one minute and everything in ten.

Per user and per scale (a minute, ten minutes, an hour, a day by default) a tumbling
window of event counts, read as a sliding one (the current window plus the part of
the previous one still inside the span), and a baseline: an EWMA of the counts of the
windows in which the user was active. Per scale the population's median active window
is a floor under every user's baseline and where a new user's baseline starts, so a
new user has one from its first event.
An event is a spike on a scale when the sliding count reaches the scale's absolute
floor (below it a quiet user watching a film never fires, whatever its baseline) and
exceeds `factor` times the usual. A window is learned as `learn_cap` times the usual
at most (by default the threshold itself), so with the EWMA's alpha of 0.2 a window
raises the baseline at most 1.8-fold, however many events it held: a scraper's hour does not
teach the hour scale its rate, while a lasting change is learned in about five windows
(minutes on the minute scale, days on the day scale, which only users above its floor
of 500 events a day ever reach).

Cost per event: a few arithmetic operations per scale; a window closes (EWMA and a
count in the population's tally) at most once per scale and user per window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class SpikeScale(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_s: float = Field(gt=0)
    min_count: int = Field(ge=1)  # the absolute floor: fewer events never spike


# The population's usual is the median of a sample of the windows closed: every fourth
# (the tally is most of a close's cost; a median needs no census).
POPULATION_SAMPLE = 4

DEFAULT_SCALES = (
    SpikeScale(window_s=60, min_count=30),
    SpikeScale(window_s=600, min_count=40),
    SpikeScale(window_s=3600, min_count=120),
    SpikeScale(window_s=86400, min_count=500),
)


@dataclass(slots=True)
class Window:
    """One user's counts on one scale."""

    start: float = -math.inf
    end: float = -math.inf  # start + the scale's width
    count: int = 0
    previous: int = 0  # the count of the window before, when it was adjacent
    baseline: float = 0.0
    seen: int = 0  # active windows learned


@dataclass(frozen=True, slots=True)
class Spike:
    count: float
    window_s: float
    usual: float
    own: float | None  # the user's own baseline, None before its first window closes

    def describe(self) -> str:
        span = span_text(self.window_s)
        times = f"{self.count / self.usual:.1f}x"
        if self.own is not None and self.own >= self.usual:
            return (f"{self.count:.0f} events in the last {span}, {times} this user's usual "
                    f"{self.own:.1f} per {span}")
        mine = "none yet" if self.own is None else f"{self.own:.1f}"
        return (f"{self.count:.0f} events in the last {span}, {times} the population's usual "
                f"{self.usual:.1f} per {span} (this user's: {mine})")


def span_text(seconds: float) -> str:
    """`60 s`, `10 min`, `1 h`, `1 d`."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0 and (unit != "min" or seconds > 60):
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


class Typical:
    """A quantile of the population's window counts (whole numbers): a count per value,
    the quantile recomputed every `every` additions."""

    __slots__ = ("counts", "every", "quantile", "since", "total", "value")

    def __init__(self, quantile: float, every: int = 512) -> None:
        self.counts: dict[int, int] = {}
        self.quantile = quantile
        self.every = every
        self.since = 0
        self.total = 0
        self.value = 0.0

    def add(self, count: int) -> None:
        counts = self.counts
        counts[count] = counts.get(count, 0) + 1
        self.total += 1
        since = self.since = self.since + 1
        if since >= self.every or (since >= 8 and self.total <= self.every):
            self.since = 0
            self.value = self._compute()

    def _compute(self) -> float:
        target = self.quantile * self.total
        running = 0
        for value in sorted(self.counts):
            running += self.counts[value]
            if running >= target:
                return float(value)
        return 0.0


class SpikeDetector:
    def __init__(self, scales: Sequence[SpikeScale] = DEFAULT_SCALES, factor: float = 5.0,
                 alpha: float = 0.2, learn_cap: float = 5.0,
                 population_quantile: float = 0.5) -> None:
        self.widths = tuple(s.window_s for s in scales)
        self.floors = tuple(s.min_count for s in scales)
        self._scales = tuple((scale, width, floor) for scale, (width, floor)
                             in enumerate(zip(self.widths, self.floors, strict=True)))
        self._closed = [0] * len(scales)  # per scale: one in `POPULATION_SAMPLE` is tallied
        self.factor = factor
        self.alpha = alpha
        self.learn_cap = learn_cap
        self.population = tuple(Typical(population_quantile) for _ in scales)

    def windows(self) -> list[Window]:
        return [Window() for _ in self.widths]

    def see(self, windows: list[Window], ts: float) -> Spike | None:
        """Count the event on every scale; the most telling spike, if any."""
        found: Spike | None = None
        for scale, width, floor in self._scales:
            window = windows[scale]
            if ts >= window.end:
                self._close(window, scale, ts - ts % width)
            count = window.count = window.count + 1
            if count + window.previous < floor:
                continue
            elapsed = min(1.0, max(0.0, ts - window.start) / width)
            recent = count + window.previous * (1.0 - elapsed)
            if recent < floor:
                continue
            usual = self.usual(window, scale)
            if recent > self.factor * usual and (
                    found is None or recent / usual > found.count / found.usual):
                found = Spike(recent, width, usual, window.baseline if window.seen else None)
        return found

    def usual(self, window: Window, scale: int) -> float:
        typical = self.population[scale].value
        own = window.baseline if window.seen else 0.0
        return max(own, typical, 1.0)

    def _close(self, window: Window, scale: int, start: float) -> None:
        count = window.count
        if count:
            population = self.population[scale]
            typical = population.value if population.value > 1.0 else 1.0
            # a user's first window moves on from the population's usual
            baseline = window.baseline if window.seen else typical
            cap = self.learn_cap * (baseline if baseline > typical else typical)
            learned = count if count < cap else cap
            window.baseline = baseline + self.alpha * (learned - baseline)
            window.seen += 1
            closed = self._closed[scale] = self._closed[scale] + 1
            if closed % POPULATION_SAMPLE == 1:
                population.add(int(learned + 0.5))
        window.previous = count if start == window.end else 0
        window.start = start
        window.end = start + self.widths[scale]
        window.count = 0
