"""`ottwatch.safe_text`, the one way event data is shown: on a terminal, in JSON, in CSV."""

from __future__ import annotations

import json
import unicodedata

import pytest
from rich.console import Console

from fixtures.hostile_strings import HOSTILE
from ottwatch.safe_text import csv_cell, dumps, plain, visible
from tui.safe import plain as tui_plain


@pytest.mark.parametrize(("raw", "shown"), [
    ("user\u202egnp.exe", "user\\u202egnp.exe"),
    ("\x1b[31mred", "\\x1b[31mred"),
    ("c1\x9bcsi", "c1\\x9bcsi"),
    ("nul\x00", "nul\\x00"),
    ("ad\u200bmin\ufeff", "ad\\u200bmin\\ufeff"),
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("line\nbreak\ttab", "line\\x0abreak\\x09tab"),
])
def test_visible_escapes_controls_and_format_characters(raw: str, shown: str) -> None:
    assert visible(raw) == shown


@pytest.mark.parametrize("normal", ["user-00042", "Zoë Ångström", "東京 ユーザー", "مستخدم",
                                    "👍🏽", "[not markup]", "x = 1", "203.0.113.7", ""])
def test_normal_text_is_unchanged(normal: str) -> None:
    assert visible(normal) == normal
    assert plain(normal).plain == normal


def test_visible_keeps_line_feeds_only_when_asked() -> None:
    assert visible("a\nb\u202e", keep_newlines=True) == "a\nb\\u202e"
    assert visible(None) == ""


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_rich_renders_every_hostile_string_literally(label: str) -> None:
    console = Console(record=True, width=5000, force_terminal=True, color_system="truecolor")
    for text in (plain(HOSTILE[label]), tui_plain(HOSTILE[label])):
        console.print(text)
    exported = console.export_text()
    assert visible(HOSTILE[label]) in exported
    assert "\x1b" not in exported and "\u202e" not in exported


def test_json_written_by_dumps_is_exact_and_inert() -> None:
    value = {label: text for label, text in HOSTILE.items()} | {"nested": [HOSTILE["bidi_rlo"]]}
    for indent in (False, True):
        document = dumps(value, indent=indent)
        assert json.loads(document) == value
        assert not [c for c in document if c != "\n" and unicodedata.category(c)
                    in {"Cc", "Cf", "Cs", "Zl", "Zp"}]


@pytest.mark.parametrize(("cell", "written"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
    ("+1", "'+1"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\\x09=1"), ("\r=1", "'\\x0d=1"),
    ("a=1", "a=1"), ("user\u202e", "user\\u202e"), ("two\nlines", "two\nlines"),
    (-5, -5), (1.5, 1.5), (None, None),
])
def test_csv_cells_never_start_a_formula(cell: object, written: object) -> None:
    assert csv_cell(cell) == written
