"""Which storage errors are faults to wait out rather than bugs: a locked or busy
database, a full disk, a disk I/O error, a lost connection (SQLite and PostgreSQL,
raw or wrapped by SQLAlchemy). And how to describe an error without the data it
carried: a PostgreSQL error's DETAIL quotes row values, so it is never shown."""

from __future__ import annotations

import errno
import sqlite3
import traceback
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

LOCKED, FULL, IO, CONNECTION = "locked", "full", "io", "connection"
WHAT = {LOCKED: "database locked", FULL: "database or disk full",
        IO: "disk I/O error", CONNECTION: "database connection lost"}

# SQLite's primary result codes (an extended code keeps them in its low byte).
SQLITE_KINDS = {5: LOCKED, 6: LOCKED, 10: IO, 13: FULL}  # BUSY, LOCKED, IOERR, FULL
SQLITE_MESSAGES = (("database is locked", LOCKED), ("database table is locked", LOCKED),
                   ("database is busy", LOCKED), ("database or disk is full", FULL),
                   ("disk i/o error", IO))
# PostgreSQL SQLSTATEs: disk full, out of memory/connections, lock timeout, deadlock,
# serialization failure, server shutting down or starting up; class 08 is the connection.
PG_STATES = {"53100": FULL, "53200": CONNECTION, "53300": CONNECTION, "55P03": LOCKED,
             "40P01": LOCKED, "40001": LOCKED, "57P01": CONNECTION, "57P02": CONNECTION,
             "57P03": CONNECTION, "58030": IO}
OS_KINDS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EIO: IO}
MAX_DEPTH = 8  # __cause__/__context__ links followed


@dataclass(frozen=True, slots=True)
class StorageFault:
    kind: str  # LOCKED, FULL, IO or CONNECTION
    code: str  # the driver's name for it: SQLITE_BUSY, SQLSTATE 53100, ENOSPC

    @property
    def what(self) -> str:
        return WHAT[self.kind]


def classify(exc: BaseException) -> StorageFault | None:
    """The fault `exc` (or an exception it was raised from) is, or None for a bug."""
    seen: BaseException | None = exc
    for _ in range(MAX_DEPTH):
        if seen is None:
            return None
        fault = _classify_one(seen)
        if fault is not None:
            return fault
        seen = seen.__cause__ or seen.__context__
    return None


def _classify_one(exc: BaseException) -> StorageFault | None:
    if isinstance(exc, DBAPIError):
        fault = _classify_one(exc.orig) if exc.orig is not None else None
        if fault is None and exc.connection_invalidated:
            return StorageFault(CONNECTION, "connection invalidated")
        return fault
    if isinstance(exc, sqlite3.Error):
        return _sqlite(exc)
    if isinstance(exc, OSError) and exc.errno in OS_KINDS:
        return StorageFault(OS_KINDS[exc.errno], errno.errorcode[exc.errno])
    return _postgres(exc)


def _sqlite(exc: sqlite3.Error) -> StorageFault | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        kind = SQLITE_KINDS.get(code & 0xFF)
        return StorageFault(kind, getattr(exc, "sqlite_errorname", str(code))) if kind else None
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        for text, kind in SQLITE_MESSAGES:
            if text in message:
                return StorageFault(kind, text)
    return None


def _postgres(exc: BaseException) -> StorageFault | None:
    try:
        import psycopg
    except ImportError:  # the optional PostgreSQL driver is not installed
        return None
    if not isinstance(exc, psycopg.Error):
        return None
    state = exc.sqlstate
    if state is not None:
        kind = PG_STATES.get(state) or (CONNECTION if state.startswith("08") else None)
        return StorageFault(kind, f"SQLSTATE {state}") if kind else None
    if isinstance(exc, psycopg.OperationalError):  # raised by the client: no server answer
        return StorageFault(CONNECTION, type(exc).__name__)
    return None


def describe(exc: BaseException) -> str:
    """One line naming the error without any value it may quote: SQLAlchemy's text
    without its parameters (the engine hides them too), a driver error by its code
    and first line, a PostgreSQL error by its primary message (its DETAIL quotes
    rows), an OSError by errno and path; any other exception by its type alone,
    since its message may hold event data."""
    name = type(exc).__name__
    if isinstance(exc, DBAPIError):
        inner = describe(exc.orig) if exc.orig is not None else name
        statement = " ".join((exc.statement or "").split())[:200]
        return f"{name}: {inner}" + (f" [SQL: {statement}]" if statement else "")
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorname", None)
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"{name}{f' ({code})' if code else ''}: {first}"
    if isinstance(exc, OSError):
        code = errno.errorcode.get(exc.errno or -1, "")
        path = f": {exc.filename}" if exc.filename else ""
        return f"{name} {code} {exc.strerror or ''}{path}".strip()
    primary = _postgres_primary(exc)
    if primary is not None:
        return f"{name}: {primary}"
    return f"{name} (message withheld: it may quote event data)"


def _postgres_primary(exc: BaseException) -> str | None:
    try:
        import psycopg
    except ImportError:
        return None
    if not isinstance(exc, psycopg.Error):
        return None
    primary = exc.diag.message_primary if exc.diag is not None else None
    state = f"SQLSTATE {exc.sqlstate}: " if exc.sqlstate else ""
    if primary is None:  # a client-side error: connection refused, timeout
        primary = str(exc).splitlines()[0] if str(exc) else ""
    return f"{state}{primary}"


def safe_traceback(exc: BaseException) -> str:
    """A traceback as Python prints it, but each exception line is `describe`d: the
    frames (code, not data) are all there, the messages that may quote data are not."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < MAX_DEPTH:
        seen.add(id(current))
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{describe(current)}\n")
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    return "\nwhich was raised from:\n\n".join(parts).rstrip("\n")
