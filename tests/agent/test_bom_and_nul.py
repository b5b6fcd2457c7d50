"""Byte order marks and NUL bytes get the reason that says what they are.

A UTF-8 byte order mark at the start of a file (or connection) is what Windows tools
write: it is dropped and the line accepted. One at the start of a later line means
another file was spliced in: `byte_order_mark`. A raw NUL is `nul_byte`, its detail
naming the byte of the line where it is."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fixtures.bad_corpus import dumps, event, spliced
from ottwatch.events import Event, Rejection, parse_line
from ottwatch.time_bounds import REASON

BOM = b"\xef\xbb\xbf"


def test_a_bom_at_the_start_of_a_stream_is_dropped() -> None:
    for record in (event("plain"), event("accented", user_id="Jürgen", region="DE")):
        line = dumps(record)
        with_bom = parse_line(BOM + line, source="file:/x", offset=0)
        assert isinstance(with_bom, Event), with_bom
        assert with_bom == parse_line(line, source="file:/x", offset=0)


def test_a_bom_further_on_is_quarantined_as_byte_order_mark() -> None:
    rejected = parse_line(BOM + dumps(event("spliced")), offset=4096)
    assert isinstance(rejected, Rejection)
    assert rejected.reason == "byte_order_mark"
    assert "not the first" in rejected.detail


@pytest.mark.parametrize(("line", "detail"), [
    (BOM, "the line holds nothing but a byte order mark"),
    (BOM + b"  \t", "the line holds nothing but a byte order mark"),
    (BOM + BOM + dumps(event("twice")), "a second byte order mark at byte 3"),
])
def test_a_first_line_with_no_event_after_its_bom(line: bytes, detail: str) -> None:
    assert parse_line(line, offset=0) == Rejection("byte_order_mark", detail)


@pytest.mark.parametrize("line", [
    spliced(event("nul-in"), "user_id", b'"u\x00v"'),
    dumps(event("nul-out"))[:-1] + b',\x00"a": 1}',
    b"\x00\x00\x00\x00" + dumps(event("zero-padded")),
])
def test_a_raw_nul_is_nul_byte_and_the_detail_says_where(line: bytes) -> None:
    rejected = parse_line(line, offset=0)
    assert isinstance(rejected, Rejection)
    assert rejected.reason == "nul_byte"
    assert rejected.detail.startswith(f"raw NUL byte (0x00) at byte {line.index(0)} of the line "
                                      f"({line.count(0)} in all)")


def test_nul_offsets_count_the_bom_a_first_line_starts_with() -> None:
    line = BOM + spliced(event("bom-nul"), "user_id", b'"u\x00v"')
    rejected = parse_line(line, offset=0)
    assert isinstance(rejected, Rejection) and rejected.reason == "nul_byte"
    assert f"at byte {line.index(0)} of the line" in rejected.detail


def test_utf16_is_named_as_such() -> None:
    text = dumps(event("wide")).decode()
    first = parse_line(b"\xff\xfe" + text.encode("utf-16-le"), offset=0)
    assert isinstance(first, Rejection) and first.reason == "invalid_utf8"
    assert "UTF-16" in first.detail
    # LF splits UTF-16LE text before its NUL high byte: later lines start with a NUL
    later = parse_line(b"\x00" + text.encode("utf-16-le"), offset=100)
    assert isinstance(later, Rejection) and later.reason == "nul_byte"
    assert "UTF-16" in later.detail


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_replay_of_concatenated_windows_files(
        tmp_path: Path, ottwatch: Callable[..., subprocess.CompletedProcess[str]],
        open_db: Any) -> None:
    """Each file written with a BOM; `cat`ed together the second BOM is mid-file."""
    first = BOM + b"\n".join(dumps(event(f"a{n}")) for n in range(3)) + b"\n"
    second = BOM + b"\n".join(dumps(event(f"b{n}")) for n in range(3)) + b"\n"
    log, config, db = tmp_path / "joined.jsonl", tmp_path / "empty.toml", tmp_path / "r.db"
    log.write_bytes(first + second)
    config.write_text("", encoding="utf-8")
    done = ottwatch("replay", str(log), "--db", str(db), "--config", str(config), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    stored = open_db(db)
    assert sorted(stored.event_ids()) == ["a0", "a1", "a2", "b1", "b2"]
    [(_, offset, reason, _, raw, _)] = stored.quarantine()
    assert (offset, reason, raw) == (len(first), "byte_order_mark", second.split(b"\n")[0])


def test_live_agent_bom_nul_and_future_lines(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any) -> None:
    """A tailed file that starts with a BOM: its first line is stored; a later BOM, a raw
    NUL and a line two days ahead of the wall clock are quarantined, each for its reason;
    a backlog line ten days old after a current one is stored (no stream rule live)."""
    now = time.time()
    lines = [
        BOM + dumps(event("first", timestamp=iso(now - 3600))),
        BOM + dumps(event("spliced", timestamp=iso(now - 3500))),
        spliced(event("nul", timestamp=iso(now - 3400)), "device_id", b'"d\x00"'),
        dumps(event("ahead", timestamp=iso(now + 2 * 86400))),
        dumps(event("old", timestamp=iso(now - 10 * 86400))),
        dumps(event("current", timestamp=iso(now - 60))),
    ]
    log = tmp_path / "app.jsonl"
    log.write_bytes(b"\n".join(lines) + b"\n")
    db = open_db(tmp_path / "agent.db")
    agent = agent_process(str(log), "--db", str(db.path))
    agent.wait_for(lambda: db.count() + db.count("quarantine") == len(lines),
                   what="every line stored or quarantined")
    assert sorted(db.event_ids()) == ["current", "first", "old"]
    reasons = {raw: reason for _, _, reason, _, raw, _ in db.quarantine()}
    assert reasons == {lines[1]: "byte_order_mark", lines[2]: "nul_byte", lines[3]: REASON}
    assert agent.stop() == 0


def test_each_tcp_connection_may_start_with_a_bom(
        tmp_path: Path, agent_process: Callable[..., Any], open_db: Any,
        free_port: int) -> None:
    """A connection is a stream of its own: its first line may carry a BOM."""
    now = time.time()
    db = open_db(tmp_path / "agent.db")
    agent = agent_process("--tcp", f"127.0.0.1:{free_port}", "--db", str(db.path),
                          "--log-level", "info")
    agent.wait_for_log("listening on tcp")
    sent = {
        "c1": [BOM + dumps(event("c1-first", timestamp=iso(now))),
               BOM + dumps(event("c1-spliced", timestamp=iso(now)))],
        "c2": [BOM + dumps(event("c2-first", timestamp=iso(now))),
               dumps(event("c2-second", timestamp=iso(now)))],
    }
    for lines in sent.values():
        with socket.create_connection(("127.0.0.1", free_port), timeout=60) as sock:
            sock.sendall(b"\n".join(lines) + b"\n")
    agent.wait_for(lambda: db.count() + db.count("quarantine") == 4, what="all four lines")
    assert sorted(db.event_ids()) == ["c1-first", "c2-first", "c2-second"]
    [(_, offset, reason, _, raw, _)] = db.quarantine()
    assert (offset, reason, raw) == (len(sent["c1"][0]) + 1, "byte_order_mark", sent["c1"][1])
    assert agent.stop() == 0
