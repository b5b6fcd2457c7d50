"""Nothing secret leaves in an alert: payment tokens keep their last 4 characters,
credentials in URLs and `key=value` secrets are starred out."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"

_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s/:@]*):[^\s/@]+@", re.IGNORECASE)
_PAYMENT_PAIR = re.compile(
    r"\b((?:payment[_ ]?)?fingerprint|payment[_ ]?token|payment[_ ]?method|payment)"
    r"(\s*[:=]\s*|\s+)([\"']?)([A-Za-z0-9_\-./+]{5,})", re.IGNORECASE)
_SECRET_PAIR = re.compile(
    r"\b(password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|authorization)"
    r"(\s*[:=]\s*)([\"']?)([^\s\"',;&]+)", re.IGNORECASE)
_BEARER = re.compile(r"\b(bearer)\s+([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
_CARD_LIKE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


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
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)
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
