"""The TOML helpers of `config check`: where a key is, and writing TOML back."""

from __future__ import annotations

import tomllib

from hypothesis import given
from hypothesis import strategies as st

from ottwatch.toml_lines import key_lines, line_of
from ottwatch.toml_out import dumps

DOCUMENT = '''\
# a comment with key = 1
top = 1
[alerts]
urls = [
  "chat=json://a",
  'x = "not a key"',
]
note = """
fake = 2
[not.a.header]
"""
routes.medium = ["chat"]
"quoted.key" = 3

[[alerts.overrides]]
name = "a"

[[alerts.overrides]]
name = "b"
[alerts.overrides.extra]
deep = 1
[scoring . learning]
enabled = false
'''


def test_key_lines_finds_keys_and_tables_not_what_is_inside_values() -> None:
    assert tomllib.loads(DOCUMENT)  # the locator expects valid TOML
    lines = key_lines(DOCUMENT)
    assert lines[("top",)] == 2 and lines[("alerts",)] == 3
    assert lines[("alerts", "urls")] == 4
    assert lines[("alerts", "note")] == 8
    assert ("alerts", "fake") not in lines and ("x",) not in lines
    assert ("not", "a", "header") not in lines and ("alerts", "x") not in lines
    assert lines[("alerts", "routes", "medium")] == 12
    assert lines[("alerts", "quoted.key")] == 13
    assert lines[("alerts", "overrides", 0)] == 15 and lines[("alerts", "overrides", 0, "name")] == 16
    assert lines[("alerts", "overrides", 1, "name")] == 19
    assert lines[("alerts", "overrides", 1, "extra", "deep")] == 21
    assert lines[("scoring", "learning", "enabled")] == 23


def test_line_of_falls_back_to_the_nearest_located_prefix() -> None:
    lines = key_lines(DOCUMENT)
    assert line_of(lines, ("alerts", "urls", 1)) == 4
    assert line_of(lines, ("alerts", "overrides", 1, "hgh")) == 18
    assert line_of(lines, ("storage", "url")) is None


def test_dumps_writes_tables_arrays_of_tables_and_odd_keys() -> None:
    data = {"a": {"x": 1, "y": [1.5, float("inf")], "empty": {}, "none": None,
                  "sub": {"dotted.key": "quote \" and \\ and \x7f and \n"},
                  "rows": [{"n": 1, "inner": {"k": True}}, {"n": 2}]}}
    text = dumps(data)
    expected = {"a": {"x": 1, "y": [1.5, float("inf")], "empty": {},
                      "sub": {"dotted.key": "quote \" and \\ and \x7f and \n"},
                      "rows": [{"n": 1, "inner": {"k": True}}, {"n": 2}]}}
    assert tomllib.loads(text) == expected
    assert "[[a.rows]]" in text and '[a.sub]\n"dotted.key" = ' in text


KEYS = st.text(min_size=1, max_size=8)
SCALARS = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.text(max_size=12),
                    st.floats(allow_nan=False))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=8)


@given(st.dictionaries(KEYS, st.dictionaries(KEYS, VALUES, max_size=4), max_size=4))
def test_dumps_reads_back_as_what_it_wrote(data: dict[str, dict[str, object]]) -> None:
    assert tomllib.loads(dumps(data)) == data
