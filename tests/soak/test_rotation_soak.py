"""The crash-and-rotation soak, small: a few thousand lines, rotations and kills come
often enough that each style and a few kills (one between a rotation's steps, one
with rotations while the agent is down) happen. The full run is
`python -m tests.soak.rotation_soak --events 200000 --seed 1`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.rotation_soak import STYLES, soak


@pytest.mark.slow
def test_kills_and_rotations_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    figures = soak(6000, seed=5, workdir=tmp_path, batch=300, rotate_p=0.5, kill_p=0.3,
                   kill_in_rotation_p=0.2, pause_s=0.2)
    print(figures.report())
    assert figures.kills >= 3 and figures.kills_mid_rotation >= 1
    assert figures.rotations_while_stopped >= 1
    assert all(figures.rotations[style] for style in STYLES), figures.rotations
    assert (figures.lost, figures.duplicated, figures.unexpected) == (0, 0, 0), figures.report()
