"""Routes: an alert's severity (and, through overrides, its code, regulation or
segment) -> apprise tags -> the channels that carry those tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ottwatch.alerts.settings import AlertSettings, RouteOverride, split_entry
from ottwatch.config_problems import Problem, closest
from ottwatch.vocabulary import LEVELS

if TYPE_CHECKING:
    from ottwatch.alerts.channels import Channel


class Router:
    def __init__(self, settings: AlertSettings, channels: Sequence[Channel]) -> None:
        self.settings = settings
        self.channels = list(channels)
        self._cache: dict[tuple[int, str], tuple[Channel, ...]] = {}

    def override_for(self, labels: Mapping[str, Any]) -> tuple[int, RouteOverride | None]:
        for index, override in enumerate(self.settings.overrides):
            if override.matches(labels):
                return index, override
        return -1, None

    def channels_for(self, labels: Mapping[str, Any], severity: str) -> tuple[Channel, ...]:
        index, override = self.override_for(labels)
        cached = self._cache.get((index, severity))
        if cached is None:
            default = self.settings.routes
            tags = frozenset(override.tags(severity, default) if override
                             else default.tags(severity))
            cached = self._cache[(index, severity)] = self.with_tags(tags)
        return cached

    def with_tags(self, tags: frozenset[str]) -> tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.receives(tags))

    def named_route(self, name: str) -> tuple[Channel, ...] | None:
        """`ottwatch alerts test --route NAME`: a severity, an override's name or a tag."""
        if name in LEVELS:
            return self.with_tags(frozenset(self.settings.routes.tags(name)))
        override = self.settings.override_named(name)
        if override is not None:
            return self.with_tags(frozenset(override.all_tags()))
        if any(name in c.tags for c in self.channels):
            return tuple(c for c in self.channels if name in c.tags)
        return None


def routed_tags(settings: AlertSettings) -> set[str]:
    """Every tag a severity's route or an override sends to."""
    tags = {tag for severity in LEVELS for tag in settings.routes.tags(severity)}
    for override in settings.overrides:
        tags.update(override.all_tags())
    return tags


def unrouted_channels(settings: AlertSettings) -> list[Problem]:
    """`[alerts] urls` entries whose tags no route or override uses: nothing would ever
    be sent to them (an untagged URL receives every route)."""
    routed = routed_tags(settings)
    problems = []
    for index, entry in enumerate(settings.urls):
        tags, _url = split_entry(entry)
        if tags and routed.isdisjoint(tags):
            close = [found for tag in tags if (found := closest(tag, routed))]
            problems.append(Problem(
                ("urls", index),
                f"no route or override uses its tags {', '.join(map(repr, tags))}: "
                "nothing would be sent to it", ", ".join(dict.fromkeys(close)) or None))
    return problems
