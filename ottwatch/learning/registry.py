"""The model registry: every trained version is a `models` row (metrics, drift,
and the fitted model as a joblib blob); one version per name is active.

Promotion and rollback each write an audit row; rollback follows them back to
the version that was active before the current one. The blobs are pickles:
the database is trusted (a 0600 file or the operator's PostgreSQL).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import joblib
from sqlalchemy import Engine, func, select, update

from ottwatch.learning import MODEL_NAMES
from ottwatch.learning.features import FEATURE_VERSION, FEATURES
from storage.operator import audit
from storage.tables import AuditRow, ModelRow

MODELS = ModelRow.__table__
AUDIT = AuditRow.__table__
ACTIVE, CANDIDATE, RETIRED = "active", "candidate", "retired"
PROMOTE, ROLLBACK = "model.promote", "model.rollback"
SYSTEM_ACTOR = "ottwatch"


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    version: int
    status: str
    trained_at: float
    samples: int
    features: int
    metrics: dict[str, Any]
    drift: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "status": self.status,
                "trained_at": self.trained_at, "samples": self.samples,
                "features": self.features, "metrics": self.metrics, "drift": self.drift}


def _target(name: str, version: int) -> str:
    return f"{name} v{version}"


def dumps(model: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=("zlib", 3))
    return buffer.getvalue()


def loads(blob: bytes) -> Any:
    model = joblib.load(io.BytesIO(blob))
    if getattr(model, "feature_version", None) != FEATURE_VERSION:
        raise RegistryError(f"model built on feature version "
                            f"{getattr(model, 'feature_version', None)}, this ottwatch "
                            f"computes version {FEATURE_VERSION}: retrain it")
    return model


def save(engine: Engine, name: str, model: object, *, trained_at: float, samples: int,
         metrics: dict[str, Any]) -> int:
    """Store a fitted model as the next version of `name` (a candidate)."""
    _check_name(name)
    blob = dumps(model)
    with engine.begin() as conn:
        last = conn.execute(select(func.max(MODELS.c.version))
                            .where(MODELS.c.name == name)).scalar()
        version = (last or 0) + 1
        conn.execute(MODELS.insert().values(
            name=name, version=version, status=CANDIDATE, trained_at=trained_at,
            samples=samples, features=list(FEATURES), metrics=metrics, drift=None, blob=blob))
    return version


def load(engine: Engine, name: str, version: int) -> Any:
    with engine.connect() as conn:
        blob = conn.execute(select(MODELS.c.blob).where(
            MODELS.c.name == name, MODELS.c.version == version)).scalar()
    if blob is None:
        raise RegistryError(f"no model {_target(name, version)}")
    return loads(bytes(blob))


def active_versions(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(MODELS.c.name, MODELS.c.version)
                                 .where(MODELS.c.status == ACTIVE)).all())


def load_active(engine: Engine, name: str) -> tuple[int, Any] | None:
    version = active_versions(engine).get(name)
    return None if version is None else (version, load(engine, name, version))


def get(engine: Engine, name: str, version: int) -> ModelInfo | None:
    found = list_models(engine, name, version=version)
    return found[0] if found else None


def list_models(engine: Engine, name: str | None = None, *, version: int | None = None
                ) -> list[ModelInfo]:
    query = select(MODELS.c.name, MODELS.c.version, MODELS.c.status, MODELS.c.trained_at,
                   MODELS.c.samples, MODELS.c.features, MODELS.c.metrics, MODELS.c.drift
                   ).order_by(MODELS.c.name, MODELS.c.version)
    if name is not None:
        query = query.where(MODELS.c.name == name)
    if version is not None:
        query = query.where(MODELS.c.version == version)
    with engine.connect() as conn:
        return [ModelInfo(r.name, r.version, r.status, r.trained_at, r.samples,
                          len(r.features or ()), r.metrics or {}, r.drift)
                for r in conn.execute(query)]


def activate(engine: Engine, name: str, version: int, *, now: float,
             actor: str = SYSTEM_ACTOR, action: str = PROMOTE,
             detail: dict[str, Any] | None = None) -> int | None:
    """Make `version` the active one (the active one retires); returns the version
    that was active before, if any."""
    with engine.begin() as conn:
        exists = conn.execute(select(MODELS.c.status).where(
            MODELS.c.name == name, MODELS.c.version == version)).scalar()
        if exists is None:
            raise RegistryError(f"no model {_target(name, version)}")
        previous = conn.execute(select(MODELS.c.version).where(
            MODELS.c.name == name, MODELS.c.status == ACTIVE)).scalar()
        if previous == version:
            raise RegistryError(f"{_target(name, version)} is already active")
        conn.execute(update(MODELS).where(MODELS.c.name == name, MODELS.c.status == ACTIVE)
                     .values(status=RETIRED))
        conn.execute(update(MODELS).where(MODELS.c.name == name, MODELS.c.version == version)
                     .values(status=ACTIVE))
        audit(conn, action, _target(name, version),
              {"name": name, "version": version, "previous": previous, **(detail or {})},
              who=actor, at=now)
    return previous


def rollback(engine: Engine, name: str, *, now: float, actor: str = SYSTEM_ACTOR
             ) -> tuple[int, int]:
    """Restore the version that was active before the current one; returns
    (from, to)."""
    current = active_versions(engine).get(name)
    if current is None:
        raise RegistryError(f"no active {name} model to roll back")
    target = _promoted_over(engine, name, current)
    if target is None:
        raise RegistryError(f"{_target(name, current)} has no earlier active version to "
                            "roll back to")
    activate(engine, name, target, now=now, actor=actor, action=ROLLBACK,
             detail={"rolled_back": current})
    return current, target


def _promoted_over(engine: Engine, name: str, version: int) -> int | None:
    """The version that was active when `version` was last promoted."""
    with engine.connect() as conn:
        detail = conn.execute(select(AUDIT.c.detail).where(
            AUDIT.c.action == PROMOTE, AUDIT.c.target == _target(name, version))
            .order_by(AUDIT.c.id.desc()).limit(1)).scalar()
        if detail is not None:
            return detail.get("previous")
        return conn.execute(select(func.max(MODELS.c.version)).where(
            MODELS.c.name == name, MODELS.c.status == RETIRED,
            MODELS.c.version < version)).scalar()


def record_drift(engine: Engine, name: str, version: int, report: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(update(MODELS).where(MODELS.c.name == name, MODELS.c.version == version)
                     .values(drift=report))


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise RegistryError(f"model name is one of {', '.join(MODEL_NAMES)}, not {name!r}")
