"""Which events are authentication, and which of them failed.

Several stages need the same answer: velocity counts failed logins, geo judges a
failed login's place but never learns it, the takeover check and consent leave
authentication out of what they learn or judge.
"""

from __future__ import annotations

from ottwatch.events import Event

AUTH_FAILED = "AUTH_FAILED"
# Proving who one is (or ending it): not the processing of personal data one consents to.
AUTHENTICATION = frozenset({"login", "login_failed", "logout", "token_refresh",
                            "token_refresh_failed"})
FAILED_TYPES = frozenset({"login_failed", "token_refresh_failed"})


def is_failed_login(event: Event) -> bool:
    """A `login_failed`, or a `login` whose error code is `AUTH_FAILED`."""
    if event.event_type == "login_failed":
        return True
    return (event.event_type == "login" and event.error_code is not None
            and event.error_code.upper() == AUTH_FAILED)


def is_failed_auth(event: Event) -> bool:
    """Authentication that did not let anyone in: a failed type, or an authentication
    event carrying any error code. Such an event is judged, never learned from."""
    kind = event.event_type
    if kind in FAILED_TYPES:
        return True
    return kind in AUTHENTICATION and event.error_code is not None
