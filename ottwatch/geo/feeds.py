"""Fetch anonymizer lists from `[geo] feed_urls` into the feeds folder.

A feed URL may carry its kind as a prefix (`tor=https://...`); otherwise the kind
comes from the URL's path (`.../tor-exits.txt`) or the lines themselves. Each feed
is written, validated and normalised, to `<kind|feed>-<hash of the URL>.txt`
(atomically, mode 0600), so no part of a URL that might be a secret reaches a file
name, and `AnonymizerSet` picks the files up by their mtime. A feed that fails or
comes back with no entries leaves the previous file in place.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from ottwatch import __version__
from ottwatch.config import mask_url
from ottwatch.geo.listfile import KIND_WORDS, ParsedList, kind_from_name, parse_list

MAX_FEED_BYTES = 64 * 1024 * 1024
TIMEOUT_S = 30.0
FEED_FILE = re.compile(r"^(?:feed|tor|vpn|proxy|hosting)-[0-9a-f]{10}\.txt$")


def masked_url(url: str) -> str:
    return mask_url(url)


class FeedError(Exception):
    """A feed that could not be fetched; the message holds no part of the URL."""


@dataclass(frozen=True, slots=True)
class Feed:
    spec: str  # as configured, `tor=https://...` or `https://...`
    url: str
    kind: str | None  # from a `kind=` prefix or the URL's path

    @classmethod
    def parse(cls, spec: str) -> Feed:
        prefix, sep, rest = spec.partition("=")
        if sep and prefix.strip().lower() in KIND_WORDS and "://" in rest:
            return cls(spec, rest.strip(), KIND_WORDS[prefix.strip().lower()])
        url = spec.strip()
        try:
            return cls(spec, url, kind_from_name(httpx.URL(url).path))
        except httpx.InvalidURL:
            return cls(spec, url, None)

    @property
    def masked(self) -> str:
        return masked_url(self.spec)

    @property
    def file_name(self) -> str:
        digest = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:10]
        return f"{self.kind or 'feed'}-{digest}.txt"


@dataclass(frozen=True, slots=True)
class FeedResult:
    number: int  # 1-based position in feed_urls
    masked_url: str
    path: Path
    entries: int = 0
    skipped: int = 0
    error: str | None = None

    def describe(self) -> str:
        head = f"feed {self.number} ({self.masked_url})"
        if self.error:
            kept = f"kept {self.path}" if self.path.exists() else "no previous file"
            return f"{head}: failed, {self.error}; {kept}"
        skipped = f", {self.skipped:,} lines skipped" if self.skipped else ""
        return f"{head}: {self.entries:,} entries{skipped} -> {self.path}"


def update_feeds(specs: Sequence[str], folder: Path, *,
                 client: httpx.Client | None = None) -> tuple[list[FeedResult], list[Path]]:
    """Fetch every feed into `folder`; returns the results and the stale feed files removed."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    feeds = [Feed.parse(spec) for spec in specs]
    own_client = client is None
    http = client if client is not None else httpx.Client(
        timeout=TIMEOUT_S, follow_redirects=True,
        headers={"User-Agent": f"ottwatch/{__version__}"})
    try:
        results = [_update_one(http, number, feed, folder)
                   for number, feed in enumerate(feeds, start=1)]
    finally:
        if own_client:
            http.close()
    return results, _prune(folder, {feed.file_name for feed in feeds})


def fetch(client: httpx.Client, url: str) -> str:
    try:
        with client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise FeedError(f"HTTP {response.status_code} {response.reason_phrase}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_FEED_BYTES:
                    raise FeedError(f"larger than {MAX_FEED_BYTES // (1024 * 1024)} MiB")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FeedError(_without_secrets(f"{type(exc).__name__}: {exc}", url)) from None
    return body.decode("utf-8", errors="replace")


def render(feed: Feed, parsed: ParsedList, fetched_at: datetime) -> str:
    kind = feed.kind or parsed.kind
    lines = [f"# ottwatch feed: {feed.masked}",
             f"# fetched: {fetched_at.isoformat(timespec='seconds').replace('+00:00', 'Z')}"]
    if kind:
        lines.append(f"# kind: {kind}")
    lines += [f"{entry.kind} {entry.text}" if entry.kind else entry.text
              for entry in parsed.entries]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by the owner only."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _update_one(client: httpx.Client, number: int, feed: Feed, folder: Path) -> FeedResult:
    path = folder / feed.file_name
    try:
        if not feed.url.startswith(("http://", "https://")):
            raise FeedError("not an http(s) URL")
        parsed = parse_list(fetch(client, feed.url))
    except FeedError as exc:
        return FeedResult(number, feed.masked, path, error=str(exc))
    if not parsed.entries:
        return FeedResult(number, feed.masked, path, skipped=parsed.skipped,
                          error=f"no IPs or CIDRs in the answer ({parsed.skipped:,} other lines)")
    write_private(path, render(feed, parsed, datetime.now(UTC)))
    return FeedResult(number, feed.masked, path, len(parsed.entries), parsed.skipped)


def _prune(folder: Path, keep: set[str]) -> list[Path]:
    stale = [p for p in folder.iterdir() if FEED_FILE.match(p.name) and p.name not in keep]
    for path in stale:
        path.unlink(missing_ok=True)
    return sorted(stale)


def _without_secrets(text: str, url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "the URL is not valid"
    secrets = [url, parsed.userinfo.decode("utf-8", "replace"), parsed.password or "",
               parsed.query.decode("utf-8", "replace")]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
