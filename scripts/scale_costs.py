"""Cost per event against scale: `stage_costs.py` on realistic streams of 1, 7 and 60
days of event time and 1k, 10k and 100k users (the same number of events in each), one
process per cell, printed as a Markdown table of µs per event per part.

    taskset -c 0 python scripts/scale_costs.py -n 200000

A part whose cost stays flat along a row (more event time) and down a column (more
users) scales; one that grows does not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DAYS = (1, 7, 60)
USERS = (1_000, 10_000, 100_000)


def cell(events: int, users: int, days: int) -> dict:
    script = Path(__file__).with_name("stage_costs.py")
    done = subprocess.run([sys.executable, str(script), "-n", str(events), "--users", str(users),
                           "--days", str(days), "--json"], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--events", type=int, default=200_000)
    parser.add_argument("--json", action="store_true", help="also print every cell as JSON")
    args = parser.parse_args()
    cells = {}
    for users in USERS:
        for days in DAYS:
            cells[users, days] = cell(args.events, users, days)
            print(f"{users:,} users, {days} days: {cells[users, days]['total_us']:.1f} µs/event",
                  file=sys.stderr, flush=True)
    parts = list(next(iter(cells.values()))["us_per_event"])
    heads = [f"{users // 1000}k users, {days} d" for users, days in cells]
    print("| part | " + " | ".join(heads) + " |")
    print("|---|" + "---:|" * len(cells))
    for part in parts:
        print(f"| {part} | " + " | ".join(f"{c['us_per_event'][part]:.1f}"
                                         for c in cells.values()) + " |")
    print("| **total µs/event** | " + " | ".join(f"**{c['total_us']:.1f}**"
                                                for c in cells.values()) + " |")
    print("| events per CPU second | " + " | ".join(f"{1e6 / c['total_us']:,.0f}"
                                                   for c in cells.values()) + " |")
    if args.json:
        print(json.dumps([{"users": u, "days": d, **c} for (u, d), c in cells.items()]))


if __name__ == "__main__":
    main()
