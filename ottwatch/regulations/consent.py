"""Per-user consent and location, remembered for the users seen most recently."""

from __future__ import annotations

from collections import OrderedDict

from ottwatch.events import Event

GRANTED, DENIED, WITHDRAWN = "g", "d", "w"  # DENIED: the client reported has_consent=false
STATE_TEXT = {None: "none recorded", DENIED: "has_consent is false",
              WITHDRAWN: "consent withdrawn"}

# [consent state, last claimed region, last IP location]
UserEntry = list


class UserBook:
    """Consent from `consent_granted`/`consent_withdrawn` and `has_consent` (the field
    wins for its event and updates the user), and the last known claimed region and
    IP location, so events that carry neither still map to the user's regulations.
    Bounded: the least recently seen users are forgotten first."""

    def __init__(self, max_users: int) -> None:
        self.max_users = max_users
        self.users: OrderedDict[str, UserEntry] = OrderedDict()

    def __len__(self) -> int:
        return len(self.users)

    def observe(
        self, event: Event, ip_region: str | None
    ) -> tuple[str | None, str | None, str | None, bool]:
        """(consent state for this event, region, IP location, whether the book changed)."""
        region = event.region or ("EU" if event.is_eu else None)
        kind = event.event_type
        if kind == "consent_granted" or (event.has_consent is True and kind != "consent_withdrawn"):
            consent: str | None = GRANTED
        elif kind == "consent_withdrawn":
            consent = WITHDRAWN
        elif event.has_consent is False:
            consent = DENIED
        else:
            consent = None

        users = self.users
        entry = users.get(event.user_id)
        if entry is None:
            if consent is None and region is None and ip_region is None:
                return None, None, None, False
            users[event.user_id] = [consent, region, ip_region]
            if len(users) > self.max_users:
                users.popitem(last=False)
            return consent, region, ip_region, True

        users.move_to_end(event.user_id)
        changed = False
        if region is None:
            region = entry[1]
        elif region != entry[1]:
            entry[1] = region
            changed = True
        if ip_region is None:
            ip_region = entry[2]
        elif ip_region != entry[2]:
            entry[2] = ip_region
            changed = True
        state = entry[0]
        if consent is None or (consent == DENIED and state == WITHDRAWN):
            consent = state
        elif consent != state:
            entry[0] = consent
            changed = True
        return consent, region, ip_region, changed

    def dump(self) -> dict[str, UserEntry]:
        """The users, least recently seen first (orjson writes the mapping as it is)."""
        return self.users

    def load(self, users: dict[str, UserEntry]) -> None:
        self.users = OrderedDict(users)
        while len(self.users) > self.max_users:
            self.users.popitem(last=False)
