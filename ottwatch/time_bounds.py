"""How far ahead an event's time may be before it is quarantined as `timestamp_in_future`.

One far-future line would otherwise drag the clock with it: in replay the event clock
jumps there and every deadline falls due at once. Two rules, both with the skew
`[ingest] max_future_skew_s` (0 turns them off):

- the wall clock: nothing is accepted more than the skew ahead of it (live: the wall
  clock as each line is judged; replay: the wall clock when the run started, since a
  recorded log cannot come from the future);
- the stream (replay): a line more than the skew ahead of the newest accepted event
  time is held until the lines after it decide. `future_confirm_lines` lines in a row
  within the skew of it (it included) mean the log really jumps ahead (a gap in the
  recording): they are accepted. A line back in the old time means the held lines
  were outliers: they are quarantined. At the end of the input, held lines are
  accepted (nothing says otherwise). Verdicts depend on the order of the lines only,
  so a replay gives the same verdicts whatever its batch size or speed.

docs/decisions/time-bounds.md says why, and what the rules cannot catch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ottwatch.clock import Clock, EventClock, FixedClock
from ottwatch.events import Event, Rejection, ts_to_text

REASON = "timestamp_in_future"

# What the bound gives back for a line, now or later: the event, the raw line, and the
# rejection that sends it to quarantine (None: accepted).
Verdict = tuple[Event, bytes, Rejection | None]


def span(seconds: float) -> str:
    if seconds < 2 * 86400:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} days"


@dataclass
class FutureBound:
    skew_s: float
    wall: Clock | None = None  # None: no wall-clock rule
    wall_name: str = "the wall clock"
    follow_stream: bool = False  # the relative rule (replay)
    confirm_lines: int = 3
    newest: float | None = None  # the newest accepted event time
    held: list[tuple[Event, bytes]] = field(default_factory=list)

    def admit(self, event: Event, raw: bytes) -> Sequence[Verdict]:
        """Verdicts on this line and on lines held before it, in input order."""
        if self.skew_s <= 0:
            return ((event, raw, None),)
        if self.wall is not None and event.ts > self.wall.now() + self.skew_s:
            return ((event, raw, self._beyond_wall(event)),)
        if not self.follow_stream:
            return ((event, raw, None),)
        verdicts: list[Verdict] = []
        if self.held:
            if abs(event.ts - self.held[0][0].ts) <= self.skew_s:
                self.held.append((event, raw))
                if len(self.held) >= self.confirm_lines:
                    return self._accept_held()
                return ()
            verdicts = self._reject_held()
        newest = self.newest
        if newest is None or event.ts <= newest + self.skew_s or self.confirm_lines <= 1:
            if newest is None or event.ts > newest:
                self.newest = event.ts
            if not verdicts:  # the common case, kept cheap: it is every line
                return ((event, raw, None),)
            verdicts.append((event, raw, None))
            return verdicts
        self.held.append((event, raw))
        return verdicts

    def finish(self) -> Sequence[Verdict]:
        """The end of the input: lines still held are accepted."""
        return self._accept_held()

    @property
    def holding(self) -> bool:
        return bool(self.held)

    def _accepted(self, ts: float) -> None:
        if self.newest is None or ts > self.newest:
            self.newest = ts

    def _accept_held(self) -> list[Verdict]:
        held, self.held = self.held, []
        for event, _ in held:
            self._accepted(event.ts)
        return [(event, raw, None) for event, raw in held]

    def _reject_held(self) -> list[Verdict]:
        held, self.held = self.held, []
        assert self.newest is not None  # a line is only held once one was accepted
        return [(event, raw, self._beyond_stream(event, self.newest)) for event, raw in held]

    def _beyond_wall(self, event: Event) -> Rejection:
        # No wall time in the detail: a replay's quarantine rows stay the same whenever it runs
        # (live, the row's own time is the wall clock's).
        return Rejection(REASON, f"{event.timestamp} is more than [ingest] max_future_skew_s = "
                                 f"{self.skew_s:g} s ahead of {self.wall_name}")

    def _beyond_stream(self, event: Event, newest: float) -> Rejection:
        return Rejection(REASON, f"{event.timestamp} is {span(event.ts - newest)} ahead of the "
                                 f"newest accepted event time ({ts_to_text(newest)}) and the "
                                 "lines after it went back; [ingest] max_future_skew_s = "
                                 f"{self.skew_s:g} s")


def future_bound(clock: Clock, *, skew_s: float, confirm_lines: int) -> FutureBound:
    """The bound for an agent on `clock`: on event time (replay) the run's start on the
    wall clock and the stream itself; otherwise (live) the clock, which is the wall."""
    if isinstance(clock, EventClock):
        return FutureBound(skew_s, wall=FixedClock(time.time()),
                           wall_name="the wall clock at the start of the replay",
                           follow_stream=True, confirm_lines=confirm_lines)
    return FutureBound(skew_s, wall=clock)
