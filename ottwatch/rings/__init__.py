"""Fraud rings: accounts tied by shared devices, IPs and payment methods.

`graph` keeps the user–resource graph incrementally, `detect` finds rings in it,
`stage` is the pipeline stage (`ring.member`), `export` reads ring rows.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ottwatch.rings.detect import Ring, find_rings
    from ottwatch.rings.graph import RingGraph
    from ottwatch.rings.settings import RingSettings
    from ottwatch.rings.stage import CODE, RingScoreSink, RingStage

# Imported on first use: the config imports `ottwatch.rings.settings`, and must not pull
# in networkx and the stage with it (the console opens without them).
_HOMES = {"Ring": "detect", "find_rings": "detect", "RingGraph": "graph",
          "RingSettings": "settings", "CODE": "stage", "RingScoreSink": "stage",
          "RingStage": "stage"}
__all__ = ["CODE", "Ring", "RingGraph", "RingScoreSink", "RingSettings", "RingStage",
           "find_rings"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
