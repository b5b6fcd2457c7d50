"""The few plots a report shows, drawn by matplotlib as inline SVG (text kept as text,
so the page stays searchable and prints sharply)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

LEVEL_COLOURS = {"low": "#9bbf85", "medium": "#e6c35c", "high": "#e08a4f",
                 "critical": "#c0392b", "not scored": "#bbbbbb"}
STATUS_COLOURS = {"on time": "#4f9a5b", "open": "#6a8fc7", "late": "#c0392b"}


def _svg(figure: object) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(figure)  # type: ignore[arg-type]
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # the XML prolog and doctype do not belong in a page


def _figure(width: float = 7.5, height: float = 2.6) -> tuple[object, object]:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "ottwatch"  # the same data draws the same file
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height))
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def stacked_by_day(counts: Mapping[int, Mapping[str, int]], series: Sequence[str],
                   colours: Mapping[str, str], ylabel: str) -> str:
    """Bars per UTC day (days since the epoch), stacked by `series`."""
    figure, axes = _figure()
    days = sorted(counts)
    labels = [datetime.fromtimestamp(d * 86_400, UTC).strftime("%m-%d") for d in days]
    bottom = [0] * len(days)
    for name in series:
        values = [counts[d].get(name, 0) for d in days]
        if any(values):
            axes.bar(labels, values, bottom=bottom, label=name,  # type: ignore[attr-defined]
                     color=colours.get(name, "#888888"))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_ylabel(ylabel)  # type: ignore[attr-defined]
    if len(days) > 14:
        axes.set_xticks(labels[:: max(1, len(days) // 10)])  # type: ignore[attr-defined]
    axes.legend(frameon=False, fontsize="small")  # type: ignore[attr-defined]
    return _svg(figure)


def deadline_status(rows: Mapping[str, Mapping[str, int]]) -> str:
    """One horizontal bar per regulation: requests on time, open, late."""
    names = [name for name, counts in rows.items() if sum(counts.values())]
    figure, axes = _figure(height=0.4 * max(3, len(names)) + 0.8)
    left = [0] * len(names)
    for status, colour in STATUS_COLOURS.items():
        values = [rows[name].get(status, 0) for name in names]
        axes.barh(names, values, left=left, label=status, color=colour)  # type: ignore[attr-defined]
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_xlabel("requests and breaches opened in the period")  # type: ignore[attr-defined]
    axes.invert_yaxis()  # type: ignore[attr-defined]
    axes.legend(frameon=False, fontsize="small")  # type: ignore[attr-defined]
    return _svg(figure)
