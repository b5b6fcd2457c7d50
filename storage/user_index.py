"""A user's assessments, found without a per-event index on `assessments`.

An index on assessments (user_id, ts) takes each insert at a random page (users
interleave), so every micro-batch dirtied about one index page per event and
wrote each to the WAL at commit: a tenth of ingest's time, and far more once
the index outgrew the page cache. Instead, every `FLUSH_ROWS` assessments the
writer copies the new rows' (user_id, ts, id) into `user_index` in key order,
in the same transaction as a batch, and records how far it has gone
(`meta.user_index_through`). A user's rows are then the indexed ones plus the
unindexed tail above that id, which is at most `FLUSH_ROWS` and a batch long and
read by id range.
"""

from __future__ import annotations

from sqlalchemy import Connection, Subquery, func, select, union_all

from storage.tables import AssessmentRow, Meta, UserIndexRow

FLUSH_ROWS = 50_000
THROUGH_KEY = "user_index_through"

A = AssessmentRow.__table__
USER_INDEX = UserIndexRow.__table__
META = Meta.__table__


def indexed_through(conn: Connection) -> int:
    """The highest assessment id whose row is in `user_index` (0: none yet)."""
    value = conn.execute(select(META.c.value).where(META.c.key == THROUGH_KEY)).scalar()
    return int(value) if value is not None else 0


def newest_assessment_id(conn: Connection) -> int:
    return conn.execute(select(func.max(A.c.id))).scalar() or 0


def flush(conn: Connection) -> int:
    """Index every assessment above the mark, in key order; returns the new mark."""
    start = indexed_through(conn)
    top = newest_assessment_id(conn)
    if top > start:
        rows = (select(A.c.user_id, A.c.ts, A.c.id)
                .where(A.c.id > start, A.c.id <= top)
                .order_by(A.c.user_id, A.c.ts, A.c.id))
        conn.execute(USER_INDEX.insert().from_select(["user_id", "ts", "id"], rows))
        _set_through(conn, top)
    return top


def _set_through(conn: Connection, mark: int) -> None:
    updated = conn.execute(META.update().where(META.c.key == THROUGH_KEY)
                           .values(value=str(mark))).rowcount
    if not updated:
        conn.execute(META.insert().values(key=THROUGH_KEY, value=str(mark)))


def user_assessment_ids(conn: Connection, user_id: str, *, after_id: int = 0,
                        before_id: int | None = None, newest: int | None = None) -> Subquery:
    """The ids (column `id`) of the user's assessments with after_id < id < before_id:
    those indexed up to the mark and the table's rows above it. The two parts meet at
    the mark read now, so a flush committed meanwhile neither hides nor repeats a row.
    `newest`: of the indexed ones, only the newest this many by time (read in key order)."""
    through = indexed_through(conn)
    indexed = select(USER_INDEX.c.id.label("id")).where(USER_INDEX.c.user_id == user_id,
                                                        USER_INDEX.c.id <= through)
    tail = select(A.c.id.label("id")).where(A.c.id > max(through, after_id),
                                            A.c.user_id == user_id)
    if after_id:
        indexed = indexed.where(USER_INDEX.c.id > after_id)
    if before_id is not None:
        indexed = indexed.where(USER_INDEX.c.id < before_id)
        tail = tail.where(A.c.id < before_id)
    if newest is not None:
        newest_first = indexed.order_by(USER_INDEX.c.ts.desc(), USER_INDEX.c.id.desc())
        limited = newest_first.limit(newest).subquery("newest_indexed")
        indexed = select(limited.c.id)
    return union_all(indexed, tail).subquery("user_ids")
