"""One duration parser for the CLI (`alerts silence --for`) and the console's silence box."""

from __future__ import annotations

import pytest

from ottwatch.durations import parse_duration
from tui.views.alerts import parse_silence


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("2d", 172_800),
    ("1w", 604_800), ("1w2d", 777_600), ("1.5h", 5400), (" 2H ", 7200), ("0s", 0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "1h 30m", "-1h", "1h30", "m15", "1hh", "1e3s"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "seconds"), [("1h30m maintenance", 5400),
                                               ("1w vendor freeze", 604_800)])
def test_the_console_takes_what_the_cli_takes(text: str, seconds: float) -> None:
    assert parse_silence(text) == (seconds, text.split(" ", 1)[1])


@pytest.mark.parametrize("text", ["0m maintenance", "2h", "soon maintenance"])
def test_the_console_wants_a_positive_duration_and_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="type a duration"):
        parse_silence(text)
