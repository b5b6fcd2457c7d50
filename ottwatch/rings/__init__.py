"""Fraud rings: accounts tied by shared devices, IPs and payment methods.

`graph` keeps the user–resource graph incrementally, `detect` finds rings in it,
`stage` is the pipeline stage (`ring.member`), `export` reads ring rows.
"""

from __future__ import annotations

from ottwatch.rings.detect import Ring, find_rings
from ottwatch.rings.graph import RingGraph
from ottwatch.rings.settings import RingSettings
from ottwatch.rings.stage import CODE, RingScoreSink, RingStage

__all__ = ["CODE", "Ring", "RingGraph", "RingScoreSink", "RingSettings", "RingStage",
           "find_rings"]
