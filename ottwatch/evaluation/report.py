"""The figures as JSON (stable keys, docs/evaluation.md) and as Rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table

from ottwatch.evaluation.floors import Floor
from ottwatch.evaluation.judge import Judgement
from ottwatch.evaluation.metrics import Share

JSON_VERSION = 1


def _rate(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _share(share: Share | None, count: str, of: str) -> dict[str, Any] | None:
    if share is None:
        return None
    return {of: share.of, count: share.count, "share": _rate(share.share)}


def judgement_json(j: Judgement) -> dict[str, Any]:
    t, r = j.timers, j.rings
    return {
        "name": j.name, "kind": j.kind, "seed": j.seed, "log": j.log, "events": j.events,
        "codes": {code: {"positives": s.positives, "fired": s.fired, "tp": s.tp, "fp": s.fp,
                         "fn": s.fn, "recall": _rate(s.recall),
                         "precision": _rate(s.precision)}
                  for code, s in j.codes.items()},
        "benign": _share(j.benign, "high_or_critical", "events"),
        "travellers": _share(j.travellers, "high_or_critical", "events"),
        "look_alikes": {kind: _share(share, "high_or_critical", "events")
                        for kind, share in j.look_alikes.items()},
        "incidents": {kind: {"planted": s.share.of, "alerted": s.share.count,
                             "share": _rate(s.share.share), "missed": list(s.missed)}
                      for kind, s in j.incidents.items()},
        "timers": {"overdue_planted": t.overdue.of, "overdue_alerted": t.overdue.count,
                   "overdue_missed": list(t.missed), "on_time": t.on_time,
                   "on_time_called_overdue": len(t.on_time_called_overdue),
                   "on_time_called_overdue_ids": list(t.on_time_called_overdue)},
        "rings": {"planted_farms": r.farms, "found": r.found,
                  "best_jaccard": [round(x, 4) for x in r.best_jaccard], "rings": r.rings,
                  "unmatched_rings": r.unmatched_rings},
        "quarantine": {"lines": sum(j.quarantine.values()), "expected": j.bad_lines,
                       "by_reason": dict(sorted(j.quarantine.items()))},
    }


def floor_json(floor: Floor) -> dict[str, Any]:
    return {"name": floor.name, "value": _rate(floor.value), "limit": floor.limit,
            "op": ">=" if floor.at_least else "<=", "passed": floor.passed}


def report_json(scenarios: list[Judgement], total: Judgement,
                held: list[Floor]) -> dict[str, Any]:
    return {"version": JSON_VERSION, "scenarios": [judgement_json(j) for j in scenarios],
            "total": judgement_json(total), "floors": [floor_json(f) for f in held],
            "passed": all(f.passed for f in held)}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _fine(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def tables(j: Judgement, held: list[Floor]) -> Group:
    failed = {f.name for f in held if not f.passed}

    def mark(name: str, text: str) -> str:
        return f"[red]{text}[/red]" if name in failed else text

    codes = Table(title=f"reason codes: {j.name}", title_justify="left")
    for column in ("code", "positives", "fired", "TP", "FP", "FN", "recall", "precision"):
        codes.add_column(column, justify="left" if column == "code" else "right")
    for code, s in j.codes.items():
        codes.add_row(code, f"{s.positives:,}", f"{s.fired:,}", f"{s.tp:,}", f"{s.fp:,}",
                      f"{s.fn:,}", mark(f"recall {code}", _pct(s.recall)),
                      mark(f"precision {code}", _pct(s.precision)))

    levels = Table(title="assessed high or critical", title_justify="left")
    for column in ("events", "of", "high/critical", "share"):
        levels.add_column(column, justify="left" if column == "events" else "right")
    for name, share in (("benign", j.benign), ("travellers", j.travellers)):
        if share is not None:
            levels.add_row(name, f"{share.of:,}", f"{share.count:,}",
                           mark(f"{name} high/critical", _fine(share.share)))
    for kind, share in j.look_alikes.items():
        if kind != "traveller":
            levels.add_row(f"  {kind}", f"{share.of:,}", f"{share.count:,}", _fine(share.share))

    kinds = Table(title="incidents alerted (medium or above)", title_justify="left")
    for column in ("kind", "planted", "alerted", "share"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for kind, s in j.incidents.items():
        kinds.add_row(kind, f"{s.share.of:,}", f"{s.share.count:,}",
                      mark(f"alerted {kind}", _pct(s.share.share)))

    t, r = j.timers, j.rings
    timers = Table(title="deadlines, rings, quarantine", title_justify="left", show_header=False)
    timers.add_column("what")
    timers.add_column("figure", justify="right")
    timers.add_row("overdue requests alerted",
                   mark("overdue alerted", f"{t.overdue.count:,} of {t.overdue.of:,}"))
    timers.add_row("on-time requests called overdue",
                   mark("on-time called overdue",
                        f"{len(t.on_time_called_overdue):,} of {t.on_time:,}"))
    jaccards = ", ".join(f"{x:.2f}" for x in r.best_jaccard) or "-"
    timers.add_row("farms found (Jaccard >= 0.8)", f"{r.found:,} of {r.farms:,}")
    timers.add_row("best Jaccard per farm", jaccards)
    timers.add_row("rings found / sharing no farm member", f"{r.rings:,} / {r.unmatched_rings:,}")
    expected = "" if j.bad_lines is None else f" (malformed lines planted: {j.bad_lines:,})"
    timers.add_row("quarantined lines" + expected, f"{sum(j.quarantine.values()):,}")
    for reason, count in sorted(j.quarantine.items()):
        timers.add_row(f"  {reason}", f"{count:,}")
    parts: list[Table] = [codes, levels, kinds, timers]
    return Group(*[p for p in parts if p.row_count])


def floors_table(held: list[Floor]) -> Table:
    table = Table(title="floors (--check)", title_justify="left")
    for column in ("floor", "value", "limit", ""):
        table.add_column(column, justify="left" if column in ("floor", "") else "right")
    for f in held:
        value = "-" if f.value is None else f"{f.value:.4g}"
        table.add_row(f.name, value, f"{'>=' if f.at_least else '<='} {f.limit:g}",
                      "[green]ok[/green]" if f.passed else "[red]missed[/red]")
    return table
