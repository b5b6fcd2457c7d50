"""What the velocity stage keeps across a restart: per user, what makes an account
established (when it was first seen, its devices and countries) and its access
baselines per scale. Short windows (failed logins, the current counts) are not kept:
they are minutes long and refill on their own.

Snapshot: `{"version", "scales": [window_s...], "users": [[user, first_seen, devices,
countries, last_region, export_peak, exports_seen, [[baseline, seen]...]]...]}`, users
least recently seen first; `first_seen` is null for a user seen only failing to log in.
Baselines are loaded only when the scales are the same as the snapshot's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from ottwatch.stages.spikes import Window

log = logging.getLogger("ottwatch.velocity")
SNAPSHOT_VERSION = 1


def dump(users: Iterable[tuple[str, Any]], widths: tuple[float, ...]) -> bytes:
    rows = [[user, None if math.isinf(u.first_seen) else u.first_seen, u.devices, u.countries,
             u.last_region, u.export_peak, u.exports_seen,
             [[w.baseline, w.seen] for w in u.windows]] for user, u in users]
    return orjson.dumps({"version": SNAPSHOT_VERSION, "scales": widths, "users": rows})


def load(data: bytes, widths: tuple[float, ...],
         new_user: Callable[[], Any]) -> list[tuple[str, Any]] | None:
    """The users of a snapshot (None when its version is not understood)."""
    state = orjson.loads(data)
    if state.get("version") != SNAPSHOT_VERSION:
        log.warning("velocity state version %r not understood; starting empty",
                    state.get("version"))
        return None
    same_scales = tuple(state.get("scales", ())) == widths
    out = []
    for user, first_seen, devices, countries, region, export_peak, exports, scales in \
            state["users"]:
        found = new_user()
        found.first_seen = math.inf if first_seen is None else first_seen
        found.devices, found.countries = tuple(devices), tuple(countries)
        found.last_region, found.export_peak, found.exports_seen = region, export_peak, exports
        if same_scales:
            found.windows = [Window(baseline=baseline, seen=seen) for baseline, seen in scales]
        out.append((user, found))
    return out
