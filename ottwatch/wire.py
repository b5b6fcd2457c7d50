"""The fast path of `ottwatch.events.parse_line`: a line of printable ASCII with no
escapes (what producers write) is decoded and type-checked in one pass by msgspec.
Everything else, and every line msgspec refuses, takes the full validation in
`ottwatch.events`, which names the reason to reject it."""

from __future__ import annotations

from typing import Annotated

import msgspec
import orjson

from ottwatch.events import (
    MAX_ID_CHARS,
    MAX_INT,
    MAX_NESTING,
    MAX_TEXT_CHARS,
    Event,
    Rejection,
    canonical_ip,
    depth,
    normalised_region,
    parse_timestamp,
)
from ottwatch.regions import is_eu_region

_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
_Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
_Required = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]


class _WireEvent(msgspec.Struct, forbid_unknown_fields=True):
    """The common shape of a line, for the fast path: types and sizes are checked
    as msgspec decodes. Anything else (unknown fields, `ts`, wrong types) fails
    here and takes the full validation, which names the reason."""

    event_id: _Required
    timestamp: Annotated[str, msgspec.Meta(max_length=64)]
    user_id: _Required
    event_type: _Required
    device_id: _Id | None = None
    ip_address: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    region: str | None = None
    is_eu: bool | None = None
    has_consent: bool | None = None
    subscription_plan: _Text | None = None
    content_id: _Id | None = None
    session_id: _Id | None = None
    payment_fingerprint: _Id | None = None
    bytes: Annotated[int, msgspec.Meta(ge=0, le=MAX_INT)] | None = None
    error_code: _Text | None = None
    request_id: _Id | None = None
    # Kept raw and read by orjson, so that nested values are exactly what the full
    # path gives (orjson reads integers beyond 64 bits as floats; msgspec would not).
    extra_metadata: msgspec.Raw = msgspec.Raw(b"null")


_wire_decoder = msgspec.json.Decoder(_WireEvent)
_NO_EXTRA = b"null"


def fast_parse(data: bytes, source: str = "", offset: int = 0) -> Event | None:
    """An `Event` for a well-formed line of printable ASCII with no escapes (so every
    string is printable and needs no cleaning), or None: the line then takes the
    full validation in `validate`, which gives the same event or the reason to
    reject it. Both must agree: tests/agent/test_parse_paths.py compares them."""
    if not data.isascii() or b"\\" in data or b"\x7f" in data:
        return None
    try:
        wire = _wire_decoder.decode(data)
    except (msgspec.MsgspecError, RecursionError):
        return None
    event_id, user_id, event_type = wire.event_id, wire.user_id, wire.event_type
    if " " in (event_id[0], event_id[-1], user_id[0], user_id[-1], event_type[0],
               event_type[-1]):
        return None  # edges to strip: the full path does it
    when = parse_timestamp(wire.timestamp)
    if isinstance(when, Rejection):
        return None
    ip = wire.ip_address
    if ip is not None:
        ip = canonical_ip(ip.strip())
        if ip is None:
            return None
    region = wire.region
    is_eu = wire.is_eu
    if region is not None:
        region = normalised_region(region)
        if region is None:
            return None
        if is_eu is None:
            is_eu = is_eu_region(region)
    extra = None
    if (raw_extra := bytes(wire.extra_metadata)) != _NO_EXTRA:
        try:
            extra = orjson.loads(raw_extra)
        except orjson.JSONDecodeError:
            return None
        if type(extra) is not dict or depth(extra, MAX_NESTING) > MAX_NESTING:
            return None
    plan = wire.subscription_plan
    return Event(
        event_id, when[0], when[1], user_id, event_type.lower(), wire.device_id or None, ip,
        region, is_eu, wire.has_consent, plan.lower() if plan else None,
        wire.content_id or None, wire.session_id or None, wire.payment_fingerprint or None,
        wire.bytes, wire.error_code or None, wire.request_id or None, extra, source, offset)
