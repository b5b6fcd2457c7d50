"""The generic labels file: written and read back, and the mistakes it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ottwatch.evaluation.labels import LabelFileError, read_label_file, write_label_file


def test_a_labels_file_round_trips_events_incidents_and_requests(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl.labels.jsonl"
    write_label_file(path, [("e-1", {"geo.anonymizer"}, set()),
                            ("e-2", set(), {"geo.anonymizer", "ring.member"})],
                     [{"incident": "i-1", "kind": "account_farm", "users": ["u-1", "u-2"],
                       "ips": [], "event_ids": ["e-1"]},
                      {"request": "rq-1", "kind": "dsar", "user_id": "u-3", "overdue": True}])
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    labels = read_label_file(path)
    assert labels.name == "log.jsonl" and labels.events == {"e-1", "e-2"}
    anonymizer = labels.codes["geo.anonymizer"]
    assert anonymizer.positive == {"e-1"} and anonymizer.negatives(labels.events) == {"e-2"}
    assert labels.codes["ring.member"].negatives(labels.events) == {"e-2"}
    (farm,) = labels.farms
    assert farm.users == {"u-1", "u-2"} and labels.targets == [farm]
    (request,) = labels.requests
    assert request.overdue(None) and not request.on_time(None)


@pytest.mark.parametrize(("line", "message"), [
    ('{"event_id": "e-1", "expect": ["a"], "forbid": ["a"]}', "both expected and forbidden"),
    ('{"event_id": "e-1", "expect": "geo.anonymizer"}', "must be a list"),
    ('{"incident": "i-1", "kind": "scraper", "event_ids": []}', "needs users or ips"),
    ('{"request": "rq", "kind": "breach", "user_id": "u", "overdue": true}', "kind is one of"),
    ('{"request": "rq", "kind": "dsar", "user_id": "u"}', "'overdue' must be true or false"),
    ('[1, 2]', "expected a JSON object"),
    ('{"user_id": "u"}', "expected an event_id, incident or request line"),
    ('not json', "not JSON"),
])
def test_mistakes_are_refused_with_where_they_are(tmp_path: Path, line: str,
                                                   message: str) -> None:
    path = tmp_path / "x.labels.jsonl"
    path.write_text('{"event_id": "e-0", "expect": [], "forbid": []}\n' + line + "\n")
    with pytest.raises(LabelFileError, match=message) as raised:
        read_label_file(path)
    assert f"{path}:2" in str(raised.value)


def test_an_event_labelled_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.labels.jsonl"
    path.write_text('{"event_id": "e-1"}\n{"event_id": "e-1", "expect": ["ring.member"]}\n')
    with pytest.raises(LabelFileError, match="labelled twice"):
        read_label_file(path)
