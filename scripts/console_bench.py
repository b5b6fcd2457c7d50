"""The console's performance bar, measured: a database of N events (default ten
million) with the project's own schema, then the real console (`tui.app.OttwatchApp`)
opened on it headless, timing what an operator waits for.

    python scripts/console_bench.py --db /work/scratch/bench/ottwatch.db --build --no-measure
    python scripts/console_bench.py --db /work/scratch/bench/ottwatch.db [--reps 3]

`--build` writes a new database: the planted scenarios replayed through the real
pipeline (alerts, rings, timers, a label: the data of the console's snapshot
tests), then N synthetic events and their assessments written in bulk with SQL
(about 95% low/allow, a few percent with reasons, review and block), users,
alerts, timers, labels, rings and model versions, so every screen has content.
The build alone turns SQLite's journal and fsync off; the indexes are dropped
for the bulk load and made again by `storage.migrations.migrate`.

The measurement opens the app with `App.run_test()` (120x40) and times, with
`time.perf_counter`, what an operator waits for: the open (app start, database
included, to the Live table's first rows), each screen switch by its key (first
visit and again), the drill-down into an event, and each Live filter. Keys are
posted as the terminal driver posts them. A step is done when its rows are on the
screen: the view's worker has put them in the table (or found nothing new) and a
frame with that table drawn is complete; "settled" is when Textual had nothing left
to draw (the footer's key hints follow each focus change a frame or two later).
With tmux installed it also times `ottwatch tui` in a real terminal, from the
process start to the first rows (imports included). It prints median and max per
step over `--reps` runs, every run, and one JSON line. The agent's ingest rate with
and without a console following it is measured by `scripts/console_ingest_load.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

from fixtures.places import PLACES
from ottwatch.regions import EU_EEA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHUNK = 500_000
DAY = 86400.0
SPAN_DAYS = 30.0
BULK_INDEXES = ("ix_events_ts", "ix_assessments_flagged", "ix_assessments_code")
# (event type, per mille); the rest are playback errors
EVENT_TYPES = (("play", 300), ("pause", 90), ("seek", 60), ("stop", 100), ("search", 90),
               ("login", 70), ("login_failed", 20), ("token_refresh", 50), ("logout", 30),
               ("download", 20), ("profile_update", 15), ("consent_granted", 6),
               ("consent_withdrawn", 4), ("dsar_request", 2), ("deletion_request", 1),
               ("purchase", 15))
FLAG_CODES = ("input.attack_pattern", "geo.claimed_region_mismatch", "geo.anonymizer",
              "geo.impossible_travel", "auth.failure_burst", "account.takeover_pattern",
              "stream.concurrency_exceeded", "data.bulk_export", "velocity.access_spike",
              "consent.missing", "ring.member", "anomaly.model", "prediction.violation_likely")
WEAK_CODES = ("consent.missing", "velocity.access_spike", "auth.failure_burst", "anomaly.model")
PLANS = ("free", "basic", "standard", "premium")
SEGMENTS = (("normal", 60), ("power", 10), ("new", 10), ("inactive", 10), ("dormant", 5),
            ("suspicious", 5))


# -- building the database ---------------------------------------------------------------
def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def case_by_weight(bucket: str, choices: tuple[tuple[str, int], ...], default: str) -> str:
    """`CASE WHEN bucket < w1 THEN 'a' WHEN bucket < w1+w2 THEN 'b' ... ELSE default END`."""
    whens, total = [], 0
    for value, weight in choices:
        total += weight
        whens.append(f"WHEN {bucket} < {total} THEN {sql_text(value)}")
    return f"CASE {' '.join(whens)} ELSE {sql_text(default)} END"


def case_by_index(index: str, values: tuple[str, ...]) -> str:
    whens = " ".join(f"WHEN {n} THEN {sql_text(v)}" for n, v in enumerate(values))
    return f"CASE {index} {whens} END"


def place_case(column: str) -> str:
    """A SQL expression over `pb` (a user's place bucket) giving a place's `column`."""
    rows = [(str(getattr(place, column)), place.weight) for place in PLACES]
    return case_by_weight("pb", tuple(rows), rows[-1][0])


def is_eu_case() -> str:
    eu = [place.region for place in PLACES if place.region == "EU" or place.country in EU_EEA]
    return f"(region IN ({', '.join(sql_text(r) for r in eu)}))"


def ip_prefix_case() -> str:
    rows = tuple((".".join(place.cidr.split(".")[:2]) + ".", place.weight) for place in PLACES)
    return case_by_weight("pb", rows, rows[-1][0])


def sequence_cte(users: int, t0: float, step: float) -> str:
    """Rows n in [:lo, :hi] with three hashes of n, a user and its place, and a time."""
    weights = sum(place.weight for place in PLACES)
    return f"""
WITH RECURSIVE seq(n) AS (SELECT :lo UNION ALL SELECT n + 1 FROM seq WHERE n < :hi),
hashed AS (
  SELECT n, (n * 48271) % 2147483647 AS h1, (n * 69621) % 2147483647 AS h2,
         (n * 16807) % 2147483647 AS h3, {t0!r} + n * {step!r} AS ts
  FROM seq),
rows AS (
  SELECT *, h1 % {users} AS un, ((h1 % {users}) * 7919) % {weights} AS pb,
         'bulk-' || printf('%010d', n) AS event_id,
         'user-b' || printf('%07d', h1 % {users}) AS user_id
  FROM hashed)"""  # noqa: S608 - this script's constants


def events_sql(users: int, t0: float, step: float) -> str:
    event_type = case_by_weight("h2 % 1000", EVENT_TYPES, "error")
    return sequence_cte(users, t0, step) + f""",
typed AS (SELECT *, {event_type} AS kind, {place_case('region')} AS region,
                 {ip_prefix_case()} AS ip_prefix FROM rows)
INSERT INTO events (event_id, ts, timestamp, user_id, event_type, device_id, ip_address,
  region, is_eu, has_consent, subscription_plan, content_id, session_id, bytes, error_code,
  request_id, extra_metadata, source, source_offset, ingested_at)
SELECT event_id, ts, strftime('%Y-%m-%dT%H:%M:%S', ts, 'unixepoch') || '.000000Z', user_id,
  CASE kind WHEN 'login_failed' THEN 'login' ELSE kind END,
  'dev-b' || printf('%07d', un) || '-' || (h3 % 2),
  ip_prefix || ((un / 254) % 256) || '.' || (un % 254 + 1),
  region, {is_eu_case()}, (un * 31) % 100 < 92,
  {case_by_index('(un * 13) % 4', PLANS)},
  CASE WHEN kind IN ('play', 'pause', 'seek', 'stop', 'download')
       THEN 'title-' || printf('%05d', h3 % 5000) END,
  CASE WHEN kind IN ('play', 'pause', 'seek', 'stop')
       THEN 's-' || user_id || '-' || (n / 8) END,
  CASE WHEN kind = 'download' THEN (h3 % 2000 + 50) * 1000000 END,
  CASE kind WHEN 'login_failed' THEN 'AUTH_FAILED'
            WHEN 'error' THEN {case_by_index('h3 % 3', ('E_DRM', 'E_NET', 'E_CODEC'))} END,
  CASE WHEN kind IN ('dsar_request', 'deletion_request') THEN 'req-' || event_id END,
  CASE kind WHEN 'search' THEN json_object('query_len', h3 % 30 + 1)
            WHEN 'purchase' THEN json_object('amount_cents', h3 % 2900 + 99) END,
  'file:/var/log/ott/bulk.jsonl', n * 230, ts + 0.05
FROM typed"""  # noqa: S608 - this script's constants


def assessments_sql(users: int, t0: float, step: float) -> str:
    """95% low/allow without a reason, 2.5% low with a weak one, 2% medium and 0.2% high
    for review, 0.3% critical blocked."""
    return sequence_cte(users, t0, step) + f""",
graded AS (
  SELECT *, h3 % 10000 AS gb,
    CASE WHEN h3 % 10000 < 9500 THEN h2 % 20
         WHEN h3 % 10000 < 9750 THEN 20 + h2 % 25
         WHEN h3 % 10000 < 9950 THEN 50 + h2 % 15
         WHEN h3 % 10000 < 9970 THEN 65 + h2 % 15
         ELSE 80 + h2 % 20 END * 1.0 AS score,
    CASE WHEN h3 % 10000 < 9500 THEN NULL
         WHEN h3 % 10000 < 9750 THEN {case_by_index(f'(h1 / 7) % {len(WEAK_CODES)}', WEAK_CODES)}
         ELSE {case_by_index(f'(h1 / 7) % {len(FLAG_CODES)}', FLAG_CODES)} END AS code
  FROM rows)
INSERT INTO assessments (event_id, user_id, ts, score, level, decision, threshold, top_code,
  reasons)
SELECT event_id, user_id, ts, score,
  CASE WHEN gb < 9750 THEN 'low' WHEN gb < 9950 THEN 'medium' WHEN gb < 9970 THEN 'high'
       ELSE 'critical' END,
  CASE WHEN gb < 9750 THEN 'allow' WHEN gb < 9970 THEN 'review' ELSE 'block' END,
  45.0 + (h1 % 3) * 5,
  code,
  CASE WHEN code IS NULL THEN '[]'
       ELSE json_array(json_object('code', code, 'weight', score,
                                   'detail', code || ' on ' || event_id)) END
FROM graded"""  # noqa: S608 - this script's constants


def users_sql(users: int, t0: float, t1: float) -> str:
    segment = case_by_weight("(un * 17) % 100", SEGMENTS, "normal")
    return f"""
WITH RECURSIVE seq(un) AS (SELECT 0 UNION ALL SELECT un + 1 FROM seq WHERE un < {users - 1})
INSERT INTO user_state (user_id, segment, first_seen, last_seen, events_30d, violations_30d,
  consent, state)
SELECT 'user-b' || printf('%07d', un), {segment}, {t0!r} + (un % 1000) * 60.0,
  {t1!r} - (un % 5000) * 30.0, 20 + un % 80, CASE WHEN un % 97 = 0 THEN 1 ELSE 0 END,
  CASE WHEN un % 50 = 0 THEN NULL ELSE (un * 31) % 100 < 92 END,
  json_object('events_total', 20 + un % 80, 'violations_total', un % 97 = 0)
FROM seq"""  # noqa: S608 - this script's constants


def alerts_sql(count: int, events: int, users: int, t0: float, t1: float) -> str:
    """Alerts on bulk events: 20% open, 10% acknowledged, the rest resolved."""
    step = (t1 - t0) / count
    return f"""
WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < {count}),
picked AS (
  SELECT k, {t0!r} + k * {step!r} AS at, (k * 7919) % {events} AS n,
         {case_by_index(f'k % {len(FLAG_CODES)}', FLAG_CODES)} AS code,
         {case_by_index('k % 3', ('high', 'critical', 'medium'))} AS severity
  FROM seq),
named AS (
  SELECT *, 'bulk-' || printf('%010d', n) AS event_id,
         'user-b' || printf('%07d', ((n * 48271) % 2147483647) % {users}) AS user_id,
         'al-' || printf('%016x', (k * 2654435761) % 4294967296 * 65536 + k) AS alert_id
  FROM picked)
INSERT INTO alerts (alert_id, group_key, created_at, updated_at, severity, codes, user_id,
  regulation, event_ids, count, status, title, body)
SELECT alert_id, code || '|' || user_id, at, at + 60, severity, json_array(code), user_id,
  CASE WHEN code = 'consent.missing' THEN 'GDPR' END, json_array(event_id), 1 + k % 4,
  CASE WHEN k % 10 < 2 THEN 'open' WHEN k % 10 = 2 THEN 'acked' ELSE 'resolved' END,
  '[' || upper(severity) || '] ' || code || ' — user ' || user_id,
  'Alert ' || alert_id || ' · ' || severity || ' · 1 event' || char(10) ||
  'Open the case: ottwatch tui --alert ' || alert_id
FROM named"""  # noqa: S608 - this script's constants


def timers_sql(count: int, t1: float) -> str:
    return f"""
WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < {count})
INSERT INTO timers (key, kind, request_id, user_id, regulation, opened_at, warn_at, deadline,
  state, event_id)
SELECT kind || ':req-bulk-' || k, kind, 'req-bulk-' || k, 'user-b' || printf('%07d', k * 37),
  regulation, opened, opened + 0.8 * window, opened + window,
  CASE WHEN opened + window < {t1!r} THEN 'overdue'
       WHEN opened + 0.8 * window < {t1!r} THEN 'warned' ELSE 'open' END,
  'bulk-' || printf('%010d', k)
FROM (SELECT k, CASE k % 2 WHEN 0 THEN 'dsar' ELSE 'deletion' END AS kind,
             {case_by_index('k % 3', ('GDPR', 'CCPA', 'LGPD'))} AS regulation,
             {t1!r} - (k % 40) * {DAY!r} AS opened, 30 * {DAY!r} AS window FROM seq)"""  # noqa: S608 - this script's constants


def rings_sql(count: int, t0: float, t1: float) -> str:
    return f"""
WITH RECURSIVE seq(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM seq WHERE k < {count})
INSERT INTO rings (ring_id, size, risk, members, shared, first_seen, last_seen)
SELECT 'R-b' || printf('%06d', k), 3 + k % 5, round((k * 37 % 100) / 100.0, 2),
  (SELECT json_group_array('user-b' || printf('%07d', k * 101 + m))
   FROM (SELECT 0 AS m UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
         UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6) WHERE m < 3 + k % 5),
  json_array(json_object('kind', 'device', 'value', 'd-farm-' || k),
             json_object('kind', 'ip', 'value', '23.10.9.' || (k % 250))),
  {t0!r} + k * 3600.0, {t1!r} - k * 600.0
FROM seq"""  # noqa: S608 - this script's constants


def labels_sql(count: int, t0: float) -> str:
    """The oldest review events labelled (before the models were trained: they do not
    count as new outcomes for the agent's retrain trigger)."""
    return f"""
INSERT INTO labels (event_id, label, note, created_by, created_at)
SELECT event_id, CASE id % 3 WHEN 0 THEN 'benign' ELSE 'violation' END, 'bulk label',
       'analyst', {t0!r} + id * 0.01
FROM assessments WHERE decision != 'allow' AND decision = 'review'
ORDER BY id LIMIT {count}"""  # noqa: S608 - this script's constants


AUDIT_FROM_LABELS = """
INSERT INTO audit (at, actor, action, target, detail)
SELECT created_at, created_by, 'label', event_id, json_object('label', label) FROM labels
WHERE created_by = 'analyst'"""


def models_sql(t1: float) -> str:
    """Model versions (metrics and drift, no fitted blob): none active, so the agent
    scores with rules only, as on a fresh install."""
    rows = []
    for name, version, status, drift in (
            ("ensemble", 1, "retired", "NULL"),
            ("ensemble", 2, "candidate", "json_object('drifted', 0, 'max_psi', 0.04)"),
            ("predictor", 1, "retired", "NULL"),
            ("predictor", 2, "candidate",
             "json_object('drifted', 1, 'drifted_features', json_array('hour', 'geo_km'))")):
        rows.append(f"SELECT {sql_text(name)}, {version}, {sql_text(status)}, "
                    f"{t1 - (3 - version) * DAY!r}, 200000, json_array('hour', 'geo_km'), "
                    "json_object('roc_auc', 0.91, 'f1', 0.62, 'precision', 0.7, "
                    f"'recall', 0.55), {drift}")
    return ("INSERT INTO models (name, version, status, trained_at, samples, features, "
            "metrics, drift) " + " UNION ALL ".join(rows))


def replay_scenarios(path: Path, until: float) -> None:
    """The planted cases through the real pipeline (as the console snapshot tests do),
    moved in time so that the last of them (a month after the first) is a day before
    `until`: nothing in the database is ahead of the clock."""
    from agent.replay import run_recorded
    from fixtures.scenarios import write_log
    from ottwatch.config import Config

    log = path.with_suffix(".scenarios.jsonl")
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until - (SPAN_DAYS + 2) * DAY))
    write_log(log, background=4000, start=start)
    config = Config()
    config.storage.url = f"sqlite:///{path}"
    config.geo.city_db = str(FIXTURES / "data" / "GeoLite2-City.mmdb")
    config.geo.anonymizer_lists = [str(FIXTURES / "anonymizers.txt")]
    asyncio.run(run_recorded(config, [str(log)]))
    log.unlink()


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(1, total + 1, size):
        yield lo, min(total, lo + size - 1)


def bulk_load(conn: sqlite3.Connection, events: int, users: int, t0: float, t1: float) -> None:
    step = (t1 - t0) / events
    statements = (events_sql(users, t0, step), assessments_sql(users, t0, step))
    started = time.perf_counter()
    for lo, hi in chunks(events, CHUNK):
        conn.execute("BEGIN")
        for statement in statements:
            conn.execute(statement, {"lo": lo, "hi": hi})
        conn.execute("COMMIT")
        rate = hi / (time.perf_counter() - started)
        print(f"  {hi:,} / {events:,} events ({rate:,.0f}/s)", file=sys.stderr)


def small_tables(conn: sqlite3.Connection, events: int, users: int, t0: float,
                 t1: float) -> None:
    conn.execute("BEGIN")
    conn.execute(users_sql(users, t0, t1))
    conn.execute(alerts_sql(max(50, events // 2000), events, users, t0, t1))
    conn.execute(timers_sql(300, t1))
    conn.execute(rings_sql(200, t0, t1))
    conn.execute(labels_sql(80, t0))
    conn.execute(AUDIT_FROM_LABELS)
    conn.execute(models_sql(t1))
    conn.execute("COMMIT")


def build(path: Path, events: int, users: int) -> None:
    from storage import open_database, user_index

    if path.exists():
        raise SystemExit(f"{path} exists: remove it (and its -wal, -shm) to build anew")
    started = time.perf_counter()
    t1 = time.time()
    t0 = t1 - SPAN_DAYS * DAY
    replay_scenarios(path, t1)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000",
                       "temp_store=MEMORY"):
            conn.execute(f"PRAGMA {pragma}")
        for index in BULK_INDEXES:
            conn.execute(f"DROP INDEX {index}")
        bulk_load(conn, events, users, t0, t1)
        small_tables(conn, events, users, t0, t1)
    print("  making the indexes again", file=sys.stderr)
    engine = open_database(f"sqlite:///{path}")  # migrate() creates the missing indexes
    with engine.begin() as conn:
        user_index.flush(conn)  # as the agent's writer would have done as it went
    engine.dispose()
    print(f"built {path}: {events:,} events in {time.perf_counter() - started:,.0f} s",
          file=sys.stderr)


# -- measuring the console -----------------------------------------------------------------
TIMEOUT_S = 60.0
POLL_S = 0.005
SIZE = (120, 40)
SCREENS = (("2", "alerts"), ("3", "rings"), ("4", "regulations"), ("5", "models"),
           ("6", "review"), ("7", "audit"), ("1", "live"))
LEVELS_FROM = {"medium": {"medium", "high", "critical"}, "high": {"high", "critical"},
               "critical": {"critical"}}
KEY_CHARACTERS = {"enter": "\r", "escape": "\x1b", "slash": "/"}


class Recorder:
    """When results reached the screen. Counts each view's `_show` (the UI-thread
    half of its loading worker: it puts the rows in the widgets) with its time, and
    each load asked for (`refresh_data`); records when each table or tree was drawn
    (`render_lines`) and when each frame was complete (`App._display`, private: a
    benchmark may look)."""

    def __init__(self) -> None:
        self.shows: dict[str, list[float]] = {}
        self.loads: dict[str, int] = {}
        self.renders: dict[str, list[float]] = {}
        self.paints: list[float] = []

    def install(self) -> None:
        """Wrap the classes (once per process)."""
        from textual.widgets import DataTable, Tree

        from tui.app import VIEWS
        from tui.views.drilldown import DrillDown

        for tab, _label, view in [*VIEWS, ("drilldown", "", DrillDown)]:
            self.shows[tab], self.loads[tab] = [], 0
            view._show = self._timed_show(view._show, tab)
            if hasattr(view, "refresh_data"):
                view.refresh_data = self._counted_load(view.refresh_data, tab)
        for widget in (DataTable, Tree):
            widget.render_lines = self._timed_render(widget.render_lines)

    def _timed_show(self, show: Callable[..., object], name: str) -> Callable[..., object]:
        def timed(*args: object) -> object:
            result = show(*args)
            self.shows[name].append(time.perf_counter())
            return result
        return timed

    def _counted_load(self, load: Callable[[object], None], name: str) -> Callable[..., None]:
        def counted(view: object) -> None:
            self.loads[name] += 1
            load(view)
        return counted

    def _timed_render(self, render: Callable[..., object]) -> Callable[..., object]:
        def timed(widget: object, *args: object) -> object:
            self.renders.setdefault(str(widget.id), []).append(  # type: ignore[attr-defined]
                time.perf_counter())
            return render(widget, *args)
        return timed

    def watch_paints(self, app: object) -> None:
        display = app._display  # type: ignore[attr-defined]

        def painted(screen: object, renderable: object) -> None:
            display(screen, renderable)
            if renderable is not None:
                self.paints.append(time.perf_counter())

        app._display = painted  # type: ignore[attr-defined]

    def mark(self, name: str) -> tuple[int, int]:
        return len(self.shows[name]), self.loads[name]

    def loaded(self, name: str, mark: tuple[int, int], app: object) -> bool:
        """A result was shown since `mark`, or a load asked for since then found
        nothing new to show."""
        return len(self.shows[name]) > mark[0] or \
            (self.loads[name] > mark[1] and not loading(app, name))

    def drawn(self, name: str, mark: tuple[int, int], started: float, widget: str) -> float:
        """When the data was on the screen: the end of the first frame in which
        `widget` was drawn after the last result went into it (after the key, if there
        was no new result: the view kept its rows)."""
        data = self.shows[name][-1] if len(self.shows[name]) > mark[0] else started
        render = min((t for t in self.renders.get(widget, []) if t >= data), default=data)
        return min((t for t in self.paints if t >= render), default=render)


RECORDER = Recorder()


def loading(app: object, group: str) -> bool:
    return any(w.group == group and not w.is_finished for w in app.workers)  # type: ignore


def painted(app: object) -> bool:
    """Textual has nothing left to lay out or draw. (Reads the screen's private update
    flags; a benchmark may.)"""
    screen = app.screen  # type: ignore[attr-defined]
    return not (screen._layout_required or screen._repaint_required  # noqa: SLF001
                or screen._scroll_required or screen._dirty_widgets)  # noqa: SLF001


async def wait_for(condition: Callable[[], bool], what: str) -> float:
    """Poll `condition` (yielding to the app between polls); the time it became true."""
    deadline = time.perf_counter() + TIMEOUT_S
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"waited {TIMEOUT_S:.0f} s for {what}")
        await asyncio.sleep(POLL_S)
    return time.perf_counter()


def press(app: object, key: str) -> None:
    """Send a key as the terminal driver does, without Pilot.press's wait for the
    process to go idle (which would add its own sleeps to the figures)."""
    from textual import events

    app.post_message(events.Key(key, KEY_CHARACTERS.get(key, key)))  # type: ignore


def column(table: object, name: str) -> list[str]:
    labels = [c.label.plain for c in table.columns.values()]  # type: ignore[attr-defined]
    index = labels.index(name)
    return [str(table.get_row_at(r)[index])  # type: ignore[attr-defined]
            for r in range(table.row_count)]  # type: ignore[attr-defined]


def filter_holds(table: object, text: str) -> bool:
    """Every row shown satisfies the filter `text` (`level:high region:DE`...)."""
    for word in text.split():
        key, _, value = word.partition(":")
        if key == "level":
            ok = set(column(table, "level")) <= LEVELS_FROM[value]
        else:
            name = {"code": "top reason", "user": "user", "region": "region"}[key]
            ok = set(column(table, name)) <= {value.upper() if key == "region" else value}
        if not ok:
            return False
    return True


def sample_user(path: Path) -> str:
    """The newest assessment's user: a user filter with results."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT user_id FROM assessments ORDER BY id DESC LIMIT 1"
                            ).fetchone()[0]


def live_filters(user: str) -> list[str]:
    return ["level:medium", "level:critical", "code:geo.impossible_travel",
            "code:regulation.breach_notification_late", f"user:{user}",
            "region:DE", "region:ZA", "level:high region:DE", ""]


Figures = dict[str, list[tuple[float, float]]]  # step -> (data on screen, settled) per run


DATA_WIDGETS = {"live": "stream", "alerts": "alerts-table", "rings": "rings-tree",
                "regulations": "regulations-table", "models": "models-table",
                "review": "review-table", "audit": "audit-table", "drilldown": "timeline"}


async def settle(app: object, name: str, mark: tuple[int, int], started: float,
                 loaded: Callable[[], bool], what: str) -> tuple[float, float]:
    """Seconds from `started` until the view's rows were drawn on the screen, and
    until Textual had nothing left to draw (the footer's key hints, redone on each
    focus change, come a frame or two later)."""
    await wait_for(loaded, what)
    settled = await wait_for(lambda: painted(app), f"{what} drawn")
    drawn = RECORDER.drawn(name, mark, started, DATA_WIDGETS[name])
    return min(drawn, settled) - started, settled - started


async def timed_switches(app: object) -> Figures:
    from textual.widgets import TabbedContent

    figures: Figures = {}
    tabs = app.query_one(TabbedContent)  # type: ignore[attr-defined]
    for key, tab in SCREENS:
        mark, started = RECORDER.mark(tab), time.perf_counter()
        press(app, key)
        figures[f"switch {key} {tab}"] = [await settle(
            app, tab, mark, started,
            lambda tab=tab, mark=mark: RECORDER.loaded(tab, mark, app) and tabs.active == tab,
            f"the {tab} screen")]
    return figures


async def timed_drilldown(app: object) -> tuple[float, float]:
    from tui.views.drilldown import DrillDown

    table = app.query_one("#stream")  # type: ignore[attr-defined]
    await wait_for(lambda: table.has_focus, "the focus on the Live table")
    mark, started = RECORDER.mark("drilldown"), time.perf_counter()
    press(app, "enter")
    figures = await settle(app, "drilldown", mark, started,
                           lambda: len(RECORDER.shows["drilldown"]) > mark[0],
                           "the drill-down")
    press(app, "escape")
    await wait_for(lambda: not isinstance(app.screen, DrillDown), "the way back")  # type: ignore
    return figures


async def timed_filter(app: object, text: str) -> tuple[float, float]:
    from textual.widgets import DataTable, Input

    from tui.views.live import LiveView, parse_filter

    table = app.query_one("#stream", DataTable)  # type: ignore[attr-defined]
    live = app.query_one(LiveView)  # type: ignore[attr-defined]
    box = app.query_one("#filter", Input)  # type: ignore[attr-defined]
    # The previous filter's box has closed and given the focus back to the table (a key
    # sent before that would go to the box).
    await wait_for(lambda: not box.display and table.has_focus, "the focus on the table")
    press(app, "slash")
    await wait_for(lambda: box.display and box.has_focus and painted(app), "the filter box")
    box.value = text
    wanted = parse_filter(text)
    mark, started = RECORDER.mark("live"), time.perf_counter()
    press(app, "enter")
    return await settle(app, "live", mark, started,
                        lambda: live.where == wanted and len(RECORDER.shows["live"]) > mark[0]
                        and filter_holds(table, text), f"the filter {text!r}")


async def one_run(path: Path, user: str, cycles: int) -> Figures:
    from textual.widgets import DataTable

    from storage import open_database
    from tui.app import OttwatchApp

    figures: Figures = {}
    mark, started = RECORDER.mark("live"), time.perf_counter()
    app = OttwatchApp(open_database(f"sqlite:///{path}"), database=str(path))
    RECORDER.watch_paints(app)
    async with app.run_test(size=SIZE):
        figures["open (app start to Live rows)"] = [await settle(
            app, "live", mark, started,
            lambda: app.query_one("#stream", DataTable).row_count > 0, "the Live rows")]
        for cycle in range(cycles):
            for step, runs in (await timed_switches(app)).items():
                figures.setdefault(f"{step} ({'again' if cycle else 'first'})", []).extend(runs)
        figures["drill-down (enter on a Live row)"] = [await timed_drilldown(app)]
        for text in live_filters(user):
            figures[f"filter {text or '(cleared)'}"] = [await timed_filter(app, text)]
    app.engine.dispose()
    return figures


async def measure(path: Path, reps: int, cycles: int = 2) -> Figures:
    RECORDER.install()
    user = sample_user(path)
    figures: Figures = {}
    for rep in range(reps):
        print(f"  run {rep + 1} / {reps} (load average {os.getloadavg()[0]:.2f})",
              file=sys.stderr)
        for step, runs in (await one_run(path, user, cycles)).items():
            figures.setdefault(step, []).extend(runs)
    return figures


def terminal_open(path: Path, user: str, *, via_config: bool = False) -> float:
    """Seconds from starting `ottwatch tui` in a real terminal (tmux, 120x40) until its
    Live table shows the newest event's user: the process start and imports too.
    `via_config`: the database named by a config file, which is then read and checked
    whole, as a plain `ottwatch tui` does, instead of `--db`."""
    session = f"ottwatch-bench-{os.getpid()}"
    if via_config:
        config = path.with_name(f"{path.stem}-console.toml")
        config.write_text(f'[storage]\nurl = "sqlite:///{path}"\n', encoding="utf-8")
        command = (f"OTTWATCH_CONFIG={config} exec {pinned()}{sys.executable} -m ottwatch "
                   "tui")
    else:
        command = f"exec {pinned()}{sys.executable} -m ottwatch tui --db {path}"
    started = time.perf_counter()
    new_session(session, SIZE, command)
    try:
        while user not in subprocess.run([*TMUX, "capture-pane", "-p", "-t", session],
                                          capture_output=True, text=True).stdout:
            if time.perf_counter() - started > TIMEOUT_S:
                raise TimeoutError("the console in tmux showed no rows")
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        subprocess.run([*TMUX, "kill-session", "-t", session], capture_output=True)


# A tmux server of the benchmark's own: the console it starts runs on this process's
# CPUs (`taskset -c 1 python scripts/console_bench.py ...` keeps it all on core 1), not
# on those of a server someone else started.
TMUX = ("tmux", "-L", "ottwatch-bench")


def new_session(name: str, size: tuple[int, int], command: str) -> None:
    """A detached session running `command`. A server that is just exiting (its last
    session was killed a moment ago) can refuse the first try."""
    for attempt in range(3):
        done = subprocess.run([*TMUX, "new-session", "-d", "-s", name, "-x", str(size[0]),
                               "-y", str(size[1]), command], capture_output=True, text=True)
        if done.returncode == 0:
            return
        time.sleep(0.5 * (attempt + 1))
    raise RuntimeError(f"tmux new-session failed: {done.stderr.strip()}")


def pinned() -> str:
    """`taskset -c CPUS ` when this process is pinned to some of the CPUs, else ''."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) == os.cpu_count() or not shutil.which("taskset"):
        return ""
    return f"taskset -c {','.join(map(str, cpus))} "


def budget_s(step: str) -> float:
    return 1.0 if "open" in step else 0.2


def report(figures: Figures) -> None:
    """Per step: data on screen (median, max, every run) against the budget, and when
    the screen was settled (footer hints and all)."""
    print(f"{'step':<44} {'median':>6} {'max':>6} {'budget':>6}      "
          f"{'settled median':>14}  data on screen, each run (ms)")
    for step, runs in figures.items():
        shown = [r[0] * 1000 for r in runs]
        settled = [r[1] * 1000 for r in runs]
        verdict = "ok" if max(shown) < budget_s(step) * 1000 else "OVER"
        print(f"{step:<44} {statistics.median(shown):>6.0f} {max(shown):>6.0f} "
              f"{budget_s(step) * 1000:>6.0f} {verdict:>4} {statistics.median(settled):>14.0f}"
              f"  {' '.join(f'{m:.0f}' for m in shown)}")
    print(json.dumps({step: {"shown_ms": [round(r[0] * 1000, 1) for r in runs],
                             "settled_ms": [round(r[1] * 1000, 1) for r in runs]}
                      for step, runs in figures.items()}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, type=Path, help="the SQLite database file")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--build", action="store_true", help="write the database first")
    parser.add_argument("--reps", type=int, default=3, help="measurement runs")
    parser.add_argument("--no-measure", action="store_true", help="only build")
    args = parser.parse_args(argv)
    if args.build:
        build(args.db, args.events, args.users)
    if args.no_measure:
        return
    figures = asyncio.run(measure(args.db, args.reps))
    if shutil.which("tmux"):
        user = sample_user(args.db)
        opens = [terminal_open(args.db, user) for _ in range(args.reps)]
        figures["open in a terminal (process start to rows)"] = [(t, t) for t in opens]
        opens = [terminal_open(args.db, user, via_config=True) for _ in range(args.reps)]
        figures["open in a terminal, database from the config file"] = [(t, t)
                                                                          for t in opens]
    report(figures)


if __name__ == "__main__":
    main()
