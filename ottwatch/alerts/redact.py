"""Nothing secret leaves in an alert or a log line: payment tokens keep their last 4
characters, credentials in URLs and `key=value` secrets are starred out; a URL shown
keeps its scheme, host, path shape and query keys, never a password, a query value
(apprise's `+Header=value` included) or a token-long path segment."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

MASK = "****"

_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/:@]*):[^\s/@]+@", re.IGNORECASE)
_PAYMENT_PAIR = re.compile(
    r"\b((?:payment[_ ]?)?fingerprint|payment[_ ]?token|payment[_ ]?method|payment)"
    r"(\s*[:=]\s*|\s+)([\"']?)([A-Za-z0-9_\-./+]{5,})", re.IGNORECASE)
_SECRET_PAIR = re.compile(
    r"\b(password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|authorization)"
    r"(\s*[:=]\s*)([\"']?)((?:bearer|basic|digest|token)\s+)?([^\s\"',;&]+)", re.IGNORECASE)
_BEARER = re.compile(r"\b(bearer)\s+([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
_CARD_LIKE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>()]+", re.IGNORECASE)
_TOKEN_SEGMENT = re.compile(r"(?<=/)(?=[A-Za-z_-]*\d)(?=[0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
URL_MASK = "***"
LONG_SEGMENT = 12


def mask_token(value: str) -> str:
    """`****1234`: a payment token (or any long identifier) by its last 4 characters."""
    return MASK + value[-4:] if len(value) > 4 else MASK


def scrub(text: str, tokens: Iterable[str] = ()) -> str:
    """`text` with the given tokens masked to their last 4, and secrets starred."""
    if not text:
        return text
    for token in tokens:
        if len(token) > 4 and token in text:
            text = text.replace(token, mask_token(token))
    text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    text = _PAYMENT_PAIR.sub(_mask_payment, text)
    text = _SECRET_PAIR.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{m.group(4) or ''}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _CARD_LIKE.sub(lambda m: mask_token(re.sub(r"[ -]", "", m.group(0))), text)


def _mask_payment(match: re.Match[str]) -> str:
    value = match.group(4)
    worded = not match.group(2).strip()
    if value.startswith(MASK) or (worded and not any(c.isdigit() for c in value)):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{match.group(3)}{mask_token(value)}"


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """An error message with each of a channel's secret parts replaced by `****`."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return scrub(text)


def mask_query(query: str) -> str:
    """`a=1&+Authorization=Bearer x` -> `a=***&+Authorization=***`: keys as written."""
    pairs = (pair.partition("=") for pair in query.split("&") if pair)
    return "&".join(f"{key}={URL_MASK}" if sep else key for key, sep, _ in pairs)


def mask_generic_url(url: str) -> str:
    """Any URL: the password, every query value and long path segments (tokens) hidden."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    with contextlib.suppress(ValueError):  # a port that is not a number is left out
        if parts.port:
            host = f"{host}:{parts.port}"
    if parts.username:
        host = (f"{parts.username}:{URL_MASK}@{host}" if parts.password
                else f"{parts.username}@{host}")
    return urlunsplit((parts.scheme, host, mask_path(parts.path), mask_query(parts.query), ""))


def mask_path(path: str) -> str:
    """Path segments long enough to be tokens (webhook ids and keys) cut to 2 characters."""
    return "/".join(seg if len(seg) <= LONG_SEGMENT else f"{seg[:2]}{URL_MASK}"
                    for seg in path.split("/"))


def mask_urls(text: str) -> str:
    """Every `scheme://...` in free text through `mask_generic_url`."""
    return _URL_IN_TEXT.sub(lambda m: mask_generic_url(m.group()), text)


def mask_log_message(text: str) -> str:
    """A sender's log line (apprise, its HTTP client): URLs masked, `key=value` and
    bearer secrets starred, and token-like path segments (letters and digits, 16+
    characters: webhook ids and tokens) in bare paths such as `with url: /api/T0K3N...`
    hidden too."""
    return _TOKEN_SEGMENT.sub(URL_MASK, scrub(mask_urls(text)))
