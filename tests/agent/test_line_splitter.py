"""LineSplitter: however a stream is cut into reads, the same lines, offsets and
too-long heads come out, and the resume offset is always the start of a line."""

from __future__ import annotations

import random

import pytest

from agent.sources.base import Chunk, LineSplitter

MAX_LINE = 100
HEAD = 16


def reference(stream: bytes) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes, int]]]:
    lines, too_long, at = [], [], 0
    parts = stream.split(b"\n")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if len(part) > MAX_LINE:
            too_long.append((at, part[:HEAD], len(part)))
        elif part.strip():
            lines.append((at, part.rstrip(b"\r")))
        at += len(part) + (0 if last else 1)
    return lines, too_long


def random_stream(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randrange(1, 60)):
        length = rng.choice([0, 1, 5, 40, MAX_LINE - 1, MAX_LINE, MAX_LINE + 1, 250, 1000])
        body = bytes(rng.choice(b"abc{}\" \r") for _ in range(length))
        lines.append(body)
    stream = b"\n".join(lines)
    return stream if rng.random() < 0.5 else stream + b"\n"


@pytest.mark.parametrize("seed", range(60))
def test_any_cut_gives_the_same_lines(seed: int) -> None:
    rng = random.Random(seed)
    stream = random_stream(rng)
    splitter = LineSplitter(MAX_LINE, HEAD)
    chunk = Chunk("test", [])
    at = 0
    while at < len(stream):
        size = rng.choice([1, 2, 7, 64, 99, 100, 101, 300, 5000])
        splitter.feed(stream[at:at + size], chunk)
        at += size
        resume = splitter.resume_offset
        assert resume == 0 or stream[resume - 1:resume] == b"\n", "resume at a line start"
        assert resume <= at
        handed_on = {o for o, _ in chunk.lines} | {o for o, _, _ in chunk.too_long}
        assert all(o < resume for o in handed_on), "everything before resume was handed on"
    splitter.flush(chunk)
    lines, too_long = reference(stream)
    assert chunk.lines == lines
    assert chunk.too_long == too_long
    assert splitter.resume_offset == len(stream)


def test_resuming_at_resume_offset_loses_and_repeats_nothing() -> None:
    rng = random.Random(7)
    stream = random_stream(rng) + b"\n"
    expected_lines, expected_long = reference(stream)
    for cut in range(0, len(stream), 37):
        first = LineSplitter(MAX_LINE, HEAD)
        before = Chunk("test", [])
        first.feed(stream[:cut], before)
        resume = first.resume_offset
        second = LineSplitter(MAX_LINE, HEAD, resume)
        after = Chunk("test", [])
        second.feed(stream[resume:], after)
        second.flush(after)
        assert before.lines + after.lines == expected_lines
        assert before.too_long + after.too_long == expected_long
