"""The two ways a line is read agree: `fast_parse` (msgspec, for lines of plain
printable ASCII) gives exactly the event the full validation gives, and declines
every line the full validation would reject or has to clean."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.bad_corpus import MAX_LINE_BYTES, corpus, event
from fixtures.generator import StreamGenerator
from fixtures.scenarios import merged_lines
from ottwatch.events import Event, Rejection, parse_line, validate
from ottwatch.wire import fast_parse


def full_path(line: bytes) -> Event | Rejection:
    """What the line gives without the fast path."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Rejection("invalid_json")
    if not isinstance(raw, dict):
        return Rejection("not_an_object")
    return validate(raw, source="s", offset=7)


def assert_agree(line: bytes) -> Event | None:
    fast = fast_parse(line, "s", 7)
    if fast is not None:
        assert fast == full_path(line), line
    return fast


def test_generated_streams_take_the_fast_path_and_agree() -> None:
    lines = list(StreamGenerator(seed=3, users=500).lines(20_000))
    fast = [assert_agree(line) for line in lines]
    taken = sum(event is not None for event in fast)
    # the generator writes only well-formed, plain lines: all of them are fast
    assert taken == len(lines)
    with_extra = [e for e in fast if e is not None and e.extra_metadata]
    assert with_extra, "the stream has events with extra_metadata"


def test_scenario_log_agrees() -> None:
    _, lines = merged_lines(background=2000, bad_ratio=0.05)
    fast = [assert_agree(line) for line in lines]
    assert sum(event is not None for event in fast) > 0.9 * len(lines)


def test_every_corpus_line_agrees_and_every_bad_one_keeps_its_reason() -> None:
    for item in corpus():
        fast = assert_agree(item.data)
        parsed = parse_line(item.data, max_line_bytes=MAX_LINE_BYTES)
        if item.reason is None:
            assert isinstance(parsed, Event), item.label
        else:
            assert parsed == Rejection(item.reason, parsed.detail), item.label
            assert fast is None or item.reason == "line_too_long", item.label


EDGE_CASES: list[tuple[dict[str, Any], bool]] = [
    # (record, the fast path takes it)
    (event(), True),
    (event(event_type="PLAY", subscription_plan="Premium"), True),
    (event(region="uk"), True),
    (event(region="eu"), True),
    (event(region="us-ca", is_eu=True), True),
    (event(region="de_by"), True),
    (event(region="not a region"), False),  # recorded as _invalid_region by the full path
    (event(region=""), False),
    (event(device_id="", content_id="", request_id=""), True),  # empty optionals: absent
    (event(device_id="   "), True),
    (event(event_id=" padded "), False),
    (event(user_id="u "), False),
    (event(event_id=""), False),
    (event(event_id="x" * 256), False),
    (event(device_id="x" * 255), True),
    (event(device_id="x" * 256), False),
    (event(error_code="x" * 1024), True),
    (event(error_code="x" * 1025), False),
    (event(ip_address="2001:0db8:0000::0001"), True),  # stored compressed
    (event(ip_address=" 10.0.0.1 "), True),
    (event(ip_address="010.0.0.1"), False),
    (event(ip_address="999.1.1.1"), False),
    (event(timestamp="2026-11-01T09:00:00+01:00"), True),
    (event(timestamp="2026-11-01t08:00:00z"), True),
    (event(timestamp="2026-11-01T08:00:00"), False),
    (event(timestamp="2026-11-01T08:00:00.123456Z"), True),
    (event(timestamp=1700000000), False),
    (event(ts="2026-11-01T08:00:00Z"), False),
    (event(has_consent=1), False),
    (event(has_consent=None, is_eu=None), True),
    (event(bytes=0), True),
    (event(bytes=2**63 - 1), True),
    (event(bytes=2**63), False),
    (event(bytes=-1), False),
    (event(bytes=5.0), False),
    (event(bytes=True), False),
    (event(extra_metadata={"a": [1, {"b": None}], "big": 2**70}), True),
    (event(extra_metadata={}), True),
    (event(extra_metadata=None), True),
    (event(extra_metadata=[1, 2]), False),
    (event(unknown_field=1), False),
    (event(device_id=5), False),
]


def test_edge_cases_agree() -> None:
    for record, fast_expected in EDGE_CASES:
        fast = assert_agree(json.dumps(record).encode())
        assert (fast is not None) == fast_expected, record


def test_lines_the_gate_keeps_from_the_fast_path_still_parse() -> None:
    escaped = json.dumps(event(user_id="u\u00e9")).encode()  # \u00e9 escape
    raw_utf8 = json.dumps(event(user_id="u\u00e9"), ensure_ascii=False).encode()
    deleted = json.dumps(event(device_id="a\x7fb")).encode().replace(b"\\u007f", b"\x7f")
    for line, user_id, device_id in ((escaped, "u\u00e9", None), (raw_utf8, "u\u00e9", None),
                                     (deleted, "u-1", "ab")):
        parsed = parse_line(line)
        assert isinstance(parsed, Event)
        assert (parsed.user_id, parsed.device_id) == (user_id, device_id)


def test_duplicate_keys_take_the_last_value_on_both_paths() -> None:
    line = b'{"event_id":"a","event_id":"b","timestamp":"2026-11-01T08:00:00Z",' \
           b'"user_id":"u","event_type":"play"}'
    fast = assert_agree(line)
    assert fast is not None and fast.event_id == "b"


printable_ascii = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
values = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**64), printable_ascii,
                   st.floats(allow_nan=False, allow_infinity=False))
records = st.fixed_dictionaries(
    {"event_id": printable_ascii, "user_id": printable_ascii,
     "event_type": st.sampled_from(["play", "LOGIN", " stop", ""]),
     "timestamp": st.sampled_from(["2026-11-01T08:00:00Z", "2026-11-01T08:00:00.5+02:00",
                                   "2026-13-01T00:00:00Z", "yesterday"])},
    optional={"device_id": st.one_of(printable_ascii, values),
              "ip_address": st.sampled_from(["10.0.0.1", "::1", "1.2.3", "fe80::1%eth0"]),
              "region": st.sampled_from(["FR", "eu", "uk", "us-ny", "??", "", "Atlantis"]),
              "is_eu": values, "has_consent": values,
              "subscription_plan": st.one_of(printable_ascii, values),
              "bytes": values, "error_code": values, "request_id": values,
              "extra_metadata": st.one_of(st.none(), st.dictionaries(printable_ascii, values,
                                                                     max_size=3), values),
              "surprise": values})


@settings(max_examples=600, deadline=None)
@given(records)
def test_random_records_agree(record: dict[str, Any]) -> None:
    assert_agree(json.dumps(record).encode())
