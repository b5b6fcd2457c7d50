"""What the agent counts while it runs: lines, stored events and quarantined lines
per source, batch latency, CPU time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


def source_label(source: str) -> str:
    """A source's name fit for a metric label and a status line: a file keeps its path;
    a socket connection's name carries its peer's address and becomes `tcp` or `unix`."""
    kind, sep, _ = source.partition(":")
    return kind if sep and kind in ("tcp", "unix") else source


@dataclass
class SourceCounts:
    lines: int = 0
    stored: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # by reason
    last_line_at: float | None = None  # wall clock


@dataclass
class AgentStats:
    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    assessed: int = 0
    findings: int = 0
    batches: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    # CPU time of the whole process (every thread) over the run: events per CPU second
    # is what one core sustains, whatever else the machine is doing.
    cpu_started: float = field(default_factory=time.process_time)
    cpu_finished: float | None = None
    last_event_ts: float | None = None
    # (latency seconds, how many events) per committed chunk; bounded.
    latencies: list[tuple[float, int]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    max_latency_samples: int = 200_000
    sources: dict[str, SourceCounts] = field(default_factory=dict)  # by `source_label`

    def source(self, name: str) -> SourceCounts:
        label = source_label(name)
        if (counts := self.sources.get(label)) is None:
            counts = self.sources[label] = SourceCounts()
        return counts

    def record_latency(self, seconds: float, count: int) -> None:
        if len(self.latencies) >= self.max_latency_samples:
            del self.latencies[: self.max_latency_samples // 2]
        self.latencies.append((seconds, count))

    def latency_percentile(self, q: float) -> float | None:
        """Per-event latency percentile (0..100) in seconds, weighted by event count."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        total = sum(c for _, c in ordered)
        target = q / 100 * total
        running = 0
        for seconds, count in ordered:
            running += count
            if running >= target:
                return seconds
        return ordered[-1][0]

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def cpu_seconds(self) -> float:
        return (self.cpu_finished or time.process_time()) - self.cpu_started

