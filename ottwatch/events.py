"""The input event model (contract v1) and the validation of one JSON line.

`parse_line` is on the hot path: it turns raw bytes into an `Event` or a
`Rejection` whose `reason` says exactly why the line was quarantined.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from ottwatch.regions import is_eu_region, normalise_region

DEFAULT_MAX_LINE_BYTES = 64 * 1024
MAX_ID_CHARS = 255
MAX_TEXT_CHARS = 1024
MAX_NESTING = 32
MAX_INT = 2**63 - 1

EVENT_TYPES = frozenset(
    """play pause stop seek error login login_failed logout signup trial_start
    subscribe cancel purchase payment_added password_change email_change
    profile_update search download bulk_download export data_export access
    data_access token_refresh token_refresh_failed consent_granted
    consent_withdrawn dsar_request dsar_fulfilled deletion_request
    deletion_completed breach_detected breach_notified""".split()
)

# Optional string fields and their size limits.
_ID_FIELDS = ("device_id", "content_id", "session_id", "payment_fingerprint", "request_id")
_TEXT_FIELDS = ("subscription_plan", "error_code")
_BOOL_FIELDS = ("is_eu", "has_consent")
_LIMITS = tuple((n, MAX_ID_CHARS) for n in _ID_FIELDS) + tuple(
    (n, MAX_TEXT_CHARS) for n in _TEXT_FIELDS
)
KNOWN_FIELDS = frozenset(
    {"event_id", "timestamp", "ts", "user_id", "event_type", "ip_address", "region", "bytes",
     "extra_metadata", *_ID_FIELDS, *_TEXT_FIELDS, *_BOOL_FIELDS}
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(slots=True)
class Event:
    event_id: str
    ts: float  # epoch seconds, UTC
    timestamp: str  # normalised RFC 3339 in UTC
    user_id: str
    event_type: str
    device_id: str | None = None
    ip_address: str | None = None
    region: str | None = None
    is_eu: bool | None = None
    has_consent: bool | None = None
    subscription_plan: str | None = None
    content_id: str | None = None
    session_id: str | None = None
    payment_fingerprint: str | None = None
    bytes: int | None = None
    error_code: str | None = None
    request_id: str | None = None
    extra_metadata: dict[str, Any] | None = None
    source: str = ""
    source_offset: int = 0

    @property
    def country(self) -> str | None:
        """The ISO country part of the claimed region (`US` for `US-CA`)."""
        if self.region is None:
            return None
        return self.region.split("-", 1)[0]


@dataclass(slots=True, frozen=True)
class Rejection:
    reason: str
    detail: str = ""


def clean_text(value: str) -> str:
    """Drop NUL and control characters (C0, DEL, C1) from a stored string."""
    if value.isprintable():
        return value
    return _CONTROL.sub("", value)


def parse_timestamp(value: Any) -> tuple[float, str] | Rejection:
    if not isinstance(value, str):
        return Rejection("wrong_type:timestamp", "timestamp must be an RFC 3339 string")
    if len(value) > 64:
        return Rejection("bad_timestamp", "timestamp longer than 64 characters")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:  # RFC 3339 allows a lower-case t and z
            value = value.upper()
            moment = datetime.fromisoformat(value)
        except ValueError:
            return Rejection("bad_timestamp", f"not ISO 8601: {value[:40]!r}")
    if moment.tzinfo is None:
        return Rejection("bad_timestamp", "timestamp has no zone (add Z or an offset)")
    if value[-1] == "Z" and value[10] == "T":  # already UTC: the canonical text is cheap to derive
        if len(value) == 27 and value[19] == ".":
            return moment.timestamp(), value
        if len(value) == 20:
            return moment.timestamp(), value[:-1] + ".000000Z"
    try:
        moment = moment.astimezone(UTC)
        return moment.timestamp(), format_ts(moment)
    except (OverflowError, ValueError):
        return Rejection("bad_timestamp", f"outside the representable range: {value[:40]!r}")


def format_ts(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds: `2026-11-01T08:00:00.000000Z`."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def ts_to_text(ts: float) -> str:
    return format_ts(datetime.fromtimestamp(ts, UTC))


# A dotted quad without leading zeros is already in canonical form.
_IPV4_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_CANONICAL_IPV4 = re.compile(rf"(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}", re.ASCII)


@lru_cache(maxsize=65536)
def canonical_ip(text: str) -> str | None:
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    return _parsed_ip(text)


@lru_cache(maxsize=65536)
def _parsed_ip(text: str) -> str | None:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return None


def depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping once it passes `limit`."""
    if limit < 0:
        return 1
    if isinstance(value, dict):
        return 1 + max((depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v, limit - 1) for v in value), default=0)
    return 0


def _decode(data: bytes, skipped: int = 0) -> Any | Rejection:
    """The JSON value of a line orjson refused, or the reason to reject it. Byte
    positions in details count from the start of the line as received, `skipped`
    bytes (a byte order mark) before `data`."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
    # orjson is strict; ask the standard library what exactly is wrong.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if skipped == 0 and data.startswith(UTF16_BOMS):
            return Rejection("invalid_utf8", "byte 0: a UTF-16 byte order mark: the log is "
                             "UTF-16, and ottwatch reads UTF-8 (convert it, e.g. with iconv)")
        return Rejection("invalid_utf8", f"byte {exc.start + skipped}: {exc.reason}")
    if (first := data.find(b"\x00")) >= 0:
        return Rejection("nul_byte", _nul_detail(data, first + skipped))
    if skipped and not data.strip():
        return Rejection("byte_order_mark", "the line holds nothing but a byte order mark")
    if data.startswith(UTF8_BOM):  # json.loads would skip it where orjson refuses it
        return Rejection("byte_order_mark", f"a second byte order mark at byte {skipped}")
    try:
        json.loads(data)
    except RecursionError:
        return Rejection("nesting_too_deep", "JSON nested deeper than the parser allows")
    except ValueError as exc:
        return Rejection("invalid_json", str(exc)[:200])
    if "surrogate" in message:
        return Rejection("invalid_utf8", "a \\u escape is a lone surrogate")
    if "depth" in message or "recursion" in message:
        return Rejection("nesting_too_deep", message[:200])
    return Rejection("number_out_of_range", "a number does not fit in 64 bits or is NaN/Infinity")


def _nul_detail(data: bytes, first: int) -> str:
    count = data.count(0)
    detail = (f"raw NUL byte (0x00) at byte {first} of the line ({count} in all); JSON allows "
              "NUL only escaped, as \\u0000")
    if len(data) >= 4 and 2 * count >= len(data) - 1:
        detail += "; every other byte is NUL: is the log UTF-16?"
    return detail


def _required_text(raw: dict[str, Any], name: str) -> str | Rejection:
    value = raw.get(name)
    if value is None:
        return Rejection(f"missing_field:{name}", f"{name} is required")
    if type(value) is not str:
        return Rejection(f"wrong_type:{name}", f"{name} must be a string")
    if not value.isprintable() or value[:1].isspace() or value[-1:].isspace():
        value = clean_text(value).strip()
    if not value:
        return Rejection(f"missing_field:{name}", f"{name} is empty")
    if len(value) > MAX_ID_CHARS:
        return Rejection(f"field_too_long:{name}", f"{name} over {MAX_ID_CHARS} characters")
    return value


def _fast_parse(data: bytes, source: str, offset: int) -> Event | None:
    """The first call loads the fast path (msgspec) and puts it in this one's place, so
    that importing this module (the console does) does not import msgspec."""
    global _fast_parse
    from ottwatch.wire import fast_parse

    _fast_parse = fast_parse
    return fast_parse(data, source, offset)


@lru_cache(maxsize=4096)
def normalised_region(text: str) -> str | None:
    return normalise_region(text)


def parse_line(
    data: bytes, *, source: str = "", offset: int = 0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Event | Rejection:
    """Validate one JSON line against contract v1."""
    if len(data) > max_line_bytes:
        return Rejection("line_too_long", f"{len(data)} bytes, limit {max_line_bytes}")
    event = _fast_parse(data, source, offset)
    if event is not None:
        return event
    skipped = 0
    if data.startswith(UTF8_BOM):
        # A byte order mark is a signature at the start of a stream (Windows tools write
        # one); a line further on that starts with one is where another stream was
        # spliced in (files concatenated), which the operator should see.
        if offset != 0:
            return Rejection("byte_order_mark", "a UTF-8 byte order mark starts a line that is "
                             "not the first of its file or connection (files concatenated?)")
        skipped = len(UTF8_BOM)
        data = data[skipped:]
        event = _fast_parse(data, source, offset)
        if event is not None:
            return event
    raw = _decode(data, skipped)
    if isinstance(raw, Rejection):
        return raw
    if not isinstance(raw, dict):
        return Rejection("not_an_object", f"top-level JSON is a {type(raw).__name__}")
    return validate(raw, source=source, offset=offset)


def validate(raw: dict[str, Any], *, source: str = "", offset: int = 0) -> Event | Rejection:
    event_id = _required_text(raw, "event_id")
    if isinstance(event_id, Rejection):
        return event_id
    user_id = _required_text(raw, "user_id")
    if isinstance(user_id, Rejection):
        return user_id
    event_type = _required_text(raw, "event_type")
    if isinstance(event_type, Rejection):
        return event_type
    event_type = event_type.lower()

    when = raw.get("timestamp", raw.get("ts"))
    if when is None:
        return Rejection("missing_field:timestamp", "timestamp (or ts) is required")
    parsed_ts = parse_timestamp(when)
    if isinstance(parsed_ts, Rejection):
        return parsed_ts
    ts, timestamp = parsed_ts

    fields: dict[str, Any] = {}
    for name, limit in _LIMITS:
        value = raw.get(name)
        if value is None:
            continue
        if type(value) is not str:
            return Rejection(f"wrong_type:{name}", f"{name} must be a string")
        if not value.isprintable():
            value = clean_text(value)
        if len(value) > limit:
            return Rejection(f"field_too_long:{name}", f"{name} over {limit} characters")
        if value:
            fields[name] = value
    if "subscription_plan" in fields:
        fields["subscription_plan"] = fields["subscription_plan"].lower()
    for name in _BOOL_FIELDS:
        value = raw.get(name)
        if value is not None:
            if type(value) is not bool:
                return Rejection(f"wrong_type:{name}", f"{name} must be true or false")
            fields[name] = value
    event = Event(event_id=event_id, ts=ts, timestamp=timestamp, user_id=user_id,
                  event_type=event_type, source=source, source_offset=offset, **fields)

    ip = raw.get("ip_address")
    if ip is not None:
        if not isinstance(ip, str):
            return Rejection("wrong_type:ip_address", "ip_address must be a string")
        canonical = canonical_ip(ip.strip()) if len(ip) <= 64 else None
        if canonical is None:
            return Rejection("bad_ip", f"not an IPv4 or IPv6 address: {clean_text(ip)[:64]!r}")
        event.ip_address = canonical

    volume = raw.get("bytes")
    if volume is not None:
        if isinstance(volume, float) and abs(volume) > MAX_INT:
            return Rejection("number_out_of_range", "bytes must be between 0 and 2^63-1")
        if isinstance(volume, bool) or not isinstance(volume, int):
            return Rejection("wrong_type:bytes", "bytes must be an integer")
        if volume < 0 or volume > MAX_INT:
            return Rejection("number_out_of_range", "bytes must be between 0 and 2^63-1")
        event.bytes = volume

    extra = raw.get("extra_metadata")
    if extra is not None:
        if not isinstance(extra, dict):
            return Rejection("wrong_type:extra_metadata", "extra_metadata must be an object")
        if depth(extra, MAX_NESTING) > MAX_NESTING:
            return Rejection("nesting_too_deep", f"extra_metadata nested over {MAX_NESTING} levels")
    unknown = None if KNOWN_FIELDS.issuperset(raw) else {
        k: v for k, v in raw.items() if k not in KNOWN_FIELDS}
    if unknown:
        if depth(unknown, MAX_NESTING) > MAX_NESTING:
            return Rejection("nesting_too_deep", f"a field nests over {MAX_NESTING} levels")
        extra = {**(extra or {}), "_unknown_fields": unknown}

    region = raw.get("region")
    if region is not None:
        if not isinstance(region, str):
            return Rejection("wrong_type:region", "region must be a string")
        normalised = normalise_region(region)
        if normalised is None:
            extra = {**(extra or {}), "_invalid_region": clean_text(region)[:64]}
        event.region = normalised
    if event.is_eu is None and event.region is not None:
        event.is_eu = is_eu_region(event.region)
    event.extra_metadata = extra
    return event


def event_to_dict(event: Event) -> dict[str, Any]:
    """The event as contract-v1 JSON fields (for export)."""
    out: dict[str, Any] = {
        "event_id": event.event_id,
        "timestamp": event.timestamp,
        "user_id": event.user_id,
        "event_type": event.event_type,
    }
    for name in ("device_id", "ip_address", "region", "is_eu", "has_consent",
                 "subscription_plan", "content_id", "session_id", "payment_fingerprint",
                 "bytes", "error_code", "request_id", "extra_metadata"):
        value = getattr(event, name)
        if value is not None:
            out[name] = value
    return out
