"""The log handler follows `sys.stderr`: a command run under a swapped stderr (click's
test runner, a caller capturing output) leaves nothing bound to a closed stream."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from ottwatch.logs import setup_logging


@pytest.fixture
def root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_records_go_to_the_current_stderr_after_the_old_one_closed(monkeypatch,
                                                                   root_logging) -> None:
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    setup_logging("info")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("ottwatch.test").warning("after the swap")
    assert "after the swap" in second.getvalue()
    assert "Logging error" not in second.getvalue()
