"""Malformed input is quarantined with its specific reason, never dropped and never
fatal; the good lines around it are stored, normalised."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fixtures.bad_corpus import (
    CORPUS_PATH,
    MAX_LINE_BYTES,
    CorpusLine,
    bad_lines,
    corpus,
    dumps,
    event,
    offsets,
    render,
)
from ottwatch.events import Event, Rejection, parse_line

QUARANTINE_HEAD = 4096


@pytest.fixture
def replay(ottwatch: Callable[..., subprocess.CompletedProcess[str]]
           ) -> Callable[[list[Path], Path, Path], subprocess.CompletedProcess[str]]:
    def run(files: list[Path], db: Path, config: Path) -> subprocess.CompletedProcess[str]:
        return ottwatch("replay", *map(str, files), "--db", str(db), "--config", str(config),
                        "--quiet")

    return run


@pytest.fixture
def small_lines_config(tmp_path: Path) -> Path:
    config = tmp_path / "ottwatch.toml"
    config.write_text(f"[ingest]\nmax_line_bytes = {MAX_LINE_BYTES}\n"
                      f"quarantine_raw_bytes = {QUARANTINE_HEAD}\n", encoding="utf-8")
    return config


def test_the_committed_corpus_is_what_the_builder_writes() -> None:
    assert CORPUS_PATH.read_bytes() == render(corpus()), (
        "fixtures/bad_lines.jsonl is stale: run `python -m fixtures.bad_corpus`")


def test_replay_quarantines_each_bad_line_with_its_reason(
        tmp_path: Path, small_lines_config: Path, open_db: Any,
        replay: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    db = open_db(tmp_path / "replay.db")
    done = replay([CORPUS_PATH], db.path, small_lines_config)
    assert done.returncode == 0, done.stderr

    lines = corpus()
    source = f"file:{CORPUS_PATH.resolve()}"
    quarantined = {offset: (source_, reason, raw, raw_length)
                   for source_, offset, reason, _detail, raw, raw_length in db.quarantine()}
    expected_bad = {offset: line for offset, line in zip(offsets(lines), lines, strict=True)
                    if line.reason is not None}
    assert set(quarantined) == set(expected_bad), "every bad line, and only those, quarantined"
    for offset, line in expected_bad.items():
        got_source, reason, raw, raw_length = quarantined[offset]
        assert (line.label, reason) == (line.label, line.reason)
        assert got_source == source
        assert raw == line.data[:QUARANTINE_HEAD] and raw_length == len(line.data), line.label

    good = [line for line in lines if line.reason is None]
    stored_at = dict(db.rows("SELECT event_id, source_offset FROM events"))
    assert set(stored_at) == {line.event_id for line in good}
    good_offsets = {line.event_id: offset for offset, line in zip(offsets(lines), lines,
                                                                  strict=True)
                    if line.reason is None}
    assert stored_at == good_offsets
    for line in good:
        if line.stored:
            columns = ", ".join(line.stored)
            row = db.rows(f"SELECT {columns} FROM events WHERE event_id = ?",  # noqa: S608
                          (line.event_id,))[0]
            assert dict(zip(line.stored, row, strict=True)) == line.stored, line.label


@pytest.mark.parametrize("line", [line for line in corpus() if line.reason is not None],
                         ids=lambda line: line.label)
def test_parse_line_gives_the_reason(line: CorpusLine) -> None:
    parsed = parse_line(line.data, source="file:/x", offset=7, max_line_bytes=MAX_LINE_BYTES)
    assert isinstance(parsed, Rejection)
    assert parsed.reason == line.reason
    assert parsed.detail


@pytest.mark.parametrize("line", [line for line in corpus() if line.stored],
                         ids=lambda line: line.label)
def test_parse_line_normalises(line: CorpusLine) -> None:
    parsed = parse_line(line.data.rstrip(b"\r"), source="file:/x", offset=7,
                        max_line_bytes=MAX_LINE_BYTES)
    assert isinstance(parsed, Event), parsed
    assert parsed.event_id == line.event_id
    assert parsed.source == "file:/x" and parsed.source_offset == 7
    for name, value in line.stored.items():
        assert getattr(parsed, name) == (bool(value) if name == "is_eu" else value), name


def test_parse_line_strips_control_characters_from_every_string_field() -> None:
    parsed = parse_line(dumps(event(
        "\u0000id\u0001", user_id="\u0085user\u007f", event_type="P\u0000LAY",
        device_id="d\u0000", content_id="c\u001f", session_id="s\u009f",
        payment_fingerprint="p\u0007", request_id="r\u0000", error_code="E\u0000_NET",
        subscription_plan="PRE\u0000MIUM")))
    assert isinstance(parsed, Event), parsed
    assert (parsed.event_id, parsed.user_id, parsed.event_type) == ("id", "user", "play")
    assert (parsed.device_id, parsed.content_id, parsed.session_id, parsed.payment_fingerprint,
            parsed.request_id, parsed.error_code, parsed.subscription_plan) == (
        "d", "c", "s", "p", "r", "E_NET", "premium")


def test_parse_line_derives_is_eu_only_when_absent() -> None:
    def parsed(**fields: Any) -> Event:
        result = parse_line(dumps(event("e", **fields)))
        assert isinstance(result, Event), result
        return result

    assert parsed(region="FR").is_eu is True
    assert parsed(region="NO").is_eu is True  # EEA
    assert parsed(region="us-ca").region == "US-CA"
    assert parsed(region="US-CA").is_eu is False
    assert parsed(region="UK").is_eu is False
    assert parsed(region="EU").is_eu is True
    assert parsed(region="FR", is_eu=False).is_eu is False
    assert parsed().is_eu is None
    odd = parsed(region="Atlantis")
    assert odd.region is None and odd.extra_metadata == {"_invalid_region": "Atlantis"}


def test_a_line_at_the_size_limit_is_accepted() -> None:
    base = dumps(event("at-limit", extra_metadata={"blob": ""}))
    line = base.replace(b'"blob": ""', b'"blob": "' + b"z" * (MAX_LINE_BYTES - len(base)) + b'"')
    assert len(line) == MAX_LINE_BYTES
    assert isinstance(parse_line(line, max_line_bytes=MAX_LINE_BYTES), Event)
    assert parse_line(line + b" ", max_line_bytes=MAX_LINE_BYTES) == Rejection(
        "line_too_long", f"{MAX_LINE_BYTES + 1} bytes, limit {MAX_LINE_BYTES}")


@pytest.mark.parametrize("timestamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_timestamp_beyond_the_utc_range_is_quarantined_not_fatal(
        tmp_path: Path, small_lines_config: Path, open_db: Any,
        replay: Callable[..., subprocess.CompletedProcess[str]], timestamp: str) -> None:
    log = tmp_path / "edge.jsonl"
    log.write_bytes(dumps(event("before")) + b"\n" + dumps(event("edge", timestamp=timestamp))
                    + b"\n" + dumps(event("after")) + b"\n")
    db = open_db(tmp_path / "replay.db")
    done = replay([log], db.path, small_lines_config)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r[2] for r in db.quarantine()] == ["bad_timestamp"]
    assert sorted(db.event_ids()) == ["after", "before"]


def test_the_corpus_covers_every_required_reason() -> None:
    reasons = {line.reason for line in bad_lines()}
    assert {"invalid_json", "invalid_utf8", "nul_byte", "nesting_too_deep", "not_an_object",
            "bad_timestamp", "bad_ip", "number_out_of_range", "line_too_long",
            "missing_field:event_id", "missing_field:user_id", "missing_field:event_type",
            "missing_field:timestamp", "wrong_type:user_id", "wrong_type:has_consent",
            "wrong_type:bytes"} <= reasons


@pytest.mark.parametrize("text", [
    "1.2.3.4", "0.0.0.0", "255.255.255.255", "10.0.0.255", "256.1.1.1", "01.2.3.4",
    "1.2.3.04", "1.2.3", "1.2.3.4.5", "1..3.4", "::1", "2001:DB8::0:1", "::ffff:1.2.3.4",
    "1.2.3.4 ", "１.2.3.4",
])
def test_ip_addresses_are_stored_in_the_form_ipaddress_gives(text: str) -> None:
    """The dotted-quad fast path and the `ipaddress` parse agree on every form."""
    import ipaddress

    try:
        expected: str | None = ipaddress.ip_address(text.strip()).compressed
    except ValueError:
        expected = None
    line = ('{"event_id": "e", "timestamp": "2026-11-01T00:00:00Z", "user_id": "u", '
            f'"event_type": "play", "ip_address": "{text}"}}').encode()
    parsed = parse_line(line)
    if expected is None:
        assert isinstance(parsed, Rejection) and parsed.reason == "bad_ip"
    else:
        assert isinstance(parsed, Event) and parsed.ip_address == expected
