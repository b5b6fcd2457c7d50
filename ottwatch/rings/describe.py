"""How rings read in rows, reasons and findings: masked payments, short summaries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ottwatch.rings.graph import Resource

DISPLAY_ORDER = ("device", "payment", "ip")
KIND_NAMES = {"device": "device", "payment": "payment", "ip": "IP"}
VALUE_CHARS = 32
VALUES_PER_KIND = 2
MEMBERS_LISTED = 10
SEVERITY_AT = ((0.8, "critical"), (0.6, "high"), (0.4, "medium"))


def mask_payment(fingerprint: str) -> str:
    """`****` and at most the last 4 characters (fewer for a short fingerprint)."""
    keep = min(4, len(fingerprint) // 2)
    return "****" + (fingerprint[-keep:] if keep else "")


def shown_value(kind: str, value: str) -> str:
    return mask_payment(value) if kind == "payment" else value


def shared_entries(shared: Iterable[Resource]) -> list[dict[str, str]]:
    """The `shared` column of a ring row: `[{kind, value}]`, payments masked."""
    return [{"kind": kind, "value": shown_value(kind, value)} for kind, value in shared]


def _short(value: str) -> str:
    return value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "…"


def sharing_summary(shared: Sequence[Resource]) -> str:
    """`device dev-1, payment ****1234, 3 IPs` (devices, payments, then IPs)."""
    parts = []
    for kind in DISPLAY_ORDER:
        values = [shown_value(k, v) for k, v in shared if k == kind]
        if not values:
            continue
        name = KIND_NAMES[kind]
        if len(values) > VALUES_PER_KIND:
            parts.append(f"{len(values)} {name}s ({', '.join(map(_short, values[:VALUES_PER_KIND]))}, …)")
        else:
            parts.extend(f"{name} {_short(v)}" for v in values)
    return ", ".join(parts) or "nothing"


def member_detail(ring_id: str, size: int, shared: Sequence[Resource]) -> str:
    return f"member of ring {ring_id} ({size} accounts sharing {sharing_summary(shared)})"


def finding_detail(size: int, risk: float, shared: Sequence[Resource],
                   members: Sequence[str], trial_accounts: int) -> str:
    listed = ", ".join(_short(m) for m in members[:MEMBERS_LISTED])
    more = f" (+{len(members) - MEMBERS_LISTED} more)" if len(members) > MEMBERS_LISTED else ""
    trials = f"; {trial_accounts} of them started trials or signed up" if trial_accounts else ""
    return (f"{size} accounts sharing {sharing_summary(shared)}{trials}; risk {risk:.2f}; "
            f"members: {listed}{more}")


def severity_for(risk: float, shared: Sequence[Resource] = (), trial_accounts: int = 0) -> str:
    """By risk; at least high when the accounts share a payment method or several of them
    started trials on shared resources (paid fraud or trial abuse, not just a device)."""
    level = next((level for at, level in SEVERITY_AT if risk >= at), "low")
    if level in ("low", "medium") and (trial_accounts >= 2
                                       or any(kind == "payment" for kind, _ in shared)):
        return "high"
    return level
