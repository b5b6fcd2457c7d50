"""The demo tells the truth: its planted account farm is found while the agent tails
the log, and its summary says so; summary tables say when they cut rows."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from agent.stats import AgentStats
from ottwatch.summary import TOP_REASONS, summary_table
from tests.conftest import REPO


def test_demo_headless_finds_its_planted_ring_and_says_so(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ottwatch", "demo", "--headless", "-n", "3000",
                           "--dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=True)
    said = re.search(r"rings:\s+(\d+) found, holding (\d+) of the (\d+) accounts of the "
                     r"(\d+) planted account farm", done.stdout)
    assert said, done.stdout
    rings, found, planted, farms = map(int, said.groups())
    assert farms >= 1 and rings >= 1 and found == planted
    with sqlite3.connect(tmp_path / "ottwatch.db") as conn:
        stored_rings = conn.execute("SELECT COUNT(*) FROM rings").fetchone()[0]
    assert stored_rings == rings


def test_the_summary_says_how_many_reasons_it_left_out() -> None:
    stats = AgentStats()
    stats.reasons.update({f"code.{n:02d}": 100 - n for n in range(TOP_REASONS + 3)})
    console = Console(width=100, record=True, color_system=None)
    console.print(summary_table(stats, title="t", elapsed=2.0))
    shown = console.export_text()
    assert "and 3 more reasons" in shown and f"{92 + 91 + 90:,}" in shown
    assert "code.07" in shown and "code.08" not in shown


def test_the_summary_measures_throughput_over_the_time_it_is_given() -> None:
    stats = AgentStats()
    stats.stored = 4000
    console = Console(width=100, record=True, color_system=None)
    console.print(summary_table(stats, title="t", elapsed=2.0))
    shown = console.export_text()
    assert "2,000 events/s" in shown and "2.00 s" in shown
