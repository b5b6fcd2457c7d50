"""Measured before dropping aiosqlite (docs/decisions/dependencies.md): the console's
latest-assessments query through sqlite3 in `asyncio.to_thread` against aiosqlite.

Usage: python scripts/aiosqlite_vs_thread.py DB   (needs `pip install aiosqlite`)
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import aiosqlite

QUERY = ("select event_id, user_id, score, level, reasons from assessments "
         "order by id desc limit 200")
RUNS = 300


def _fetch(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(QUERY).fetchall()


async def in_thread(db: str) -> list[float]:
    conn = sqlite3.connect(db, check_same_thread=False)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        await asyncio.to_thread(_fetch, conn)
        times.append(time.perf_counter() - start)
    conn.close()
    return times


async def with_aiosqlite(db: str) -> list[float]:
    times = []
    async with aiosqlite.connect(db) as conn:
        for _ in range(RUNS):
            start = time.perf_counter()
            async with conn.execute(QUERY) as cursor:
                await cursor.fetchall()
            times.append(time.perf_counter() - start)
    return times


def main(db: str) -> None:
    ways: list[tuple[str, Callable[[str], Awaitable[list[float]]]]] = [
        ("to_thread(sqlite3)", in_thread), ("aiosqlite", with_aiosqlite)] * 2
    for name, way in ways:
        times = sorted(asyncio.run(way(db)))
        print(f"{name:20s} median {statistics.median(times) * 1000:.2f} ms  "
              f"p95 {times[int(0.95 * len(times))] * 1000:.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
