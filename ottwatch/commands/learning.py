"""The learning loop's commands: `label`, `retrain`, `models` (list, promote,
rollback) and `predict`. `commands` lists them for registration."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from ottwatch.commands.common import config_option, db_option, load, open_existing
from ottwatch.config import Config
from ottwatch.events import ts_to_text
from ottwatch.learning import MODEL_NAMES
from ottwatch.learning.settings import LearningSettings
from ottwatch.safe_text import dumps, plain, visible
from storage.tables import EventRow

COMMAND_POLL_S = 0.5
METRIC_COLUMNS = ("precision", "recall", "f1", "roc_auc", "fpr")


def _echo_json(value: Any) -> None:
    click.echo(dumps(value, indent=True,
                     option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY))


def _open(config_path: str | None, db: str | None) -> tuple[Config, Engine, LearningSettings]:
    config = load(config_path, db)
    return config, open_existing(config.storage.url), config.scoring.learning


def _context(config: Config) -> Callable[[], list[Any]]:
    from ottwatch.learning.context import context_stages

    return lambda: context_stages(config)


# -- label --------------------------------------------------------------------------------
@click.command("label")
@click.argument("event_id")
@click.option("--violation", "label", flag_value="violation",
              help="The event is a confirmed violation.")
@click.option("--benign", "label", flag_value="benign", help="The event is benign.")
@click.option("--note", default="", help="Why (kept with the label and in the audit log).")
@config_option
@db_option
def label_command(event_id: str, label: str | None, note: str, config_path: str | None,
                  db: str | None) -> None:
    """Label EVENT_ID as a confirmed violation or benign (an outcome the models learn from)."""
    from storage.operator import actor, add_label

    if label is None:
        raise click.UsageError("say --violation or --benign")
    _, engine, _ = _open(config_path, db)
    with engine.connect() as conn:
        known = conn.execute(select(EventRow.__table__.c.event_id).where(
            EventRow.__table__.c.event_id == event_id)).scalar()
    if known is None:
        engine.dispose()
        raise click.ClickException(f"no stored event {visible(event_id)!r}")
    who = actor()
    add_label(engine, event_id, label, note, who=who)
    engine.dispose()
    click.echo(f"{visible(event_id)} labelled {label} by {visible(who)}")


# -- retrain ------------------------------------------------------------------------------
@click.command("retrain")
@click.argument("model", type=click.Choice(["all", *MODEL_NAMES]), default="all")
@click.option("--via-agent", is_flag=True,
              help="Ask the running agent to retrain (it uses its live sample) and wait.")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait for the agent's answer (with --via-agent).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
@db_option
def retrain_command(model: str, via_agent: bool, timeout: float, as_json: bool,
                    config_path: str | None, db: str | None) -> None:
    """Train MODEL (ensemble, predictor or all) now; a new version becomes active only if
    it is not worse than the active one on the same held-out split."""
    config, engine, settings = _open(config_path, db)
    try:
        if via_agent:
            results = _via_agent(engine, {"model": model}, timeout)
        else:
            results = retrain_from_database(engine, config, settings, model)
    finally:
        engine.dispose()
    if as_json:
        _echo_json(results)
        return
    for result in results:
        version = f" v{result['version']}" if result.get("version") else ""
        click.echo(f"{result['name']}{version}: {result['status']} (training set "
                   f"{result['replay_seconds']:.1f} s, fit {result['seconds']:.1f} s, "
                   f"{result['samples']} samples) - {result['message']}")
        if result.get("metrics"):
            click.echo("  held-out: " + _metrics_text(result["metrics"]))
        if result.get("active_metrics"):
            click.echo(f"  active v{result['active_version']} on the same split: "
                       + _metrics_text(result["active_metrics"]))


def retrain_from_database(engine: Engine, config: Config, settings: LearningSettings,
                          model: str) -> list[dict[str, Any]]:
    """Train MODEL (or all) here, on the stored window and the agent's saved sample."""
    from ottwatch.learning.stage import LearningStage
    from ottwatch.learning.train import retrain_all
    from storage.queries import load_stage_states

    names = list(MODEL_NAMES) if model == "all" else [model]
    sample = None
    state = load_stage_states(engine).get(LearningStage.name)
    if state is not None:  # the agent's reservoir, as of its last snapshot
        stage = LearningStage(settings)
        stage.restore(state)
        sample = stage.sample_rows()
    results = retrain_all(engine, names, now=time.time(), settings=settings,
                          context=_context(config)(), sample=sample, actor=_actor())
    return [r.to_dict() for r in results]


def _via_agent(engine: Engine, args: dict[str, Any], timeout: float, kind: str = "retrain"
               ) -> list[dict[str, Any]]:
    from storage.operator import command_status, queue_command

    command_id = queue_command(engine, kind, {**args, "actor": _actor()}, who=_actor())
    deadline = time.monotonic() + timeout
    click.echo(f"command {command_id} queued for the agent; waiting up to {timeout:g} s",
               err=True)
    while time.monotonic() < deadline:
        status = command_status(engine, command_id) or {}
        if status.get("status") == "done":
            return status["result"].get("results", [status["result"]])
        if status.get("status") == "failed":
            raise click.ClickException(f"the agent failed command {command_id}: "
                                       f"{(status.get('result') or {}).get('error')}")
        time.sleep(COMMAND_POLL_S)
    raise click.ClickException(f"no answer from the agent within {timeout:g} s (is "
                               f"`ottwatch agent` running on this database?); command "
                               f"{command_id} stays queued")


def _actor() -> str:
    from storage.operator import actor

    return actor()


# -- models -------------------------------------------------------------------------------
def _metrics_text(metrics: dict[str, Any]) -> str:
    parts = []
    for key in METRIC_COLUMNS:
        value = metrics.get(key)
        parts.append(f"{key} {'-' if value is None else f'{value:.3f}'}")
    parts.append(f"({metrics.get('positives', 0)} violations / {metrics.get('negatives', 0)} "
                 f"others held out)")
    return ", ".join(parts)


@click.group("models", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
@db_option
@click.pass_context
def models_command(ctx: click.Context, as_json: bool, config_path: str | None,
                   db: str | None) -> None:
    """Model versions: status, held-out metrics, drift. Subcommands promote and roll back."""
    ctx.obj = {"config_path": config_path, "db": db}
    if ctx.invoked_subcommand is not None:
        return
    from ottwatch.learning import registry

    _, engine, settings = _open(config_path, db)
    models = registry.list_models(engine)
    engine.dispose()
    if as_json:
        _echo_json([m.to_dict() for m in models])
        return
    if not models:
        click.echo(f"no models yet: cold start, rules only until {settings.min_samples} "
                   f"samples (run `ottwatch retrain`)")
        return
    table = Table(box=None)
    for column in ("model", "version", "status", "trained", "samples", *METRIC_COLUMNS,
                   "drift"):
        table.add_column(column)
    for m in models:
        drift = m.drift or {}
        drift_text = "-" if not drift else (
            f"DRIFT {', '.join(drift.get('drifted_features', [])[:3])}" if drift.get("drifted")
            else f"ok (max PSI {drift.get('max_psi', 0):.2f})")
        table.add_row(plain(m.name), plain(m.version), plain(m.status),
                      plain(ts_to_text(m.trained_at)[:19]), plain(m.samples),
                      *(plain("-" if m.metrics.get(k) is None else f"{m.metrics[k]:.3f}")
                        for k in METRIC_COLUMNS), plain(drift_text))
    Console(width=160).print(table)


def _options(ctx: click.Context, config_path: str | None, db: str | None
             ) -> tuple[str | None, str | None]:
    parent = ctx.obj or {}
    return config_path or parent.get("config_path"), db or parent.get("db")


@models_command.command("promote")
@click.argument("name", type=click.Choice(MODEL_NAMES))
@click.argument("version", type=int)
@config_option
@db_option
@click.pass_context
def promote_command(ctx: click.Context, name: str, version: int, config_path: str | None,
                    db: str | None) -> None:
    """Make NAME VERSION active, if it is not worse than the active version on the same
    held-out split (refused otherwise, with the numbers)."""
    from ottwatch.learning import registry
    from ottwatch.learning.train import promote

    config, engine, settings = _open(*_options(ctx, config_path, db))
    try:
        outcome = promote(engine, name, version, now=time.time(), settings=settings,
                          context=_context(config)(), actor=_actor())
    except registry.RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(outcome.message)
    click.echo(f"  v{version}: {_metrics_text(outcome.metrics)}")
    if outcome.active_metrics is not None:
        click.echo(f"  active v{outcome.active_version}: {_metrics_text(outcome.active_metrics)}")
    if not outcome.promoted:
        ctx.exit(1)


@models_command.command("rollback")
@click.argument("name", type=click.Choice(MODEL_NAMES))
@config_option
@db_option
@click.pass_context
def rollback_command(ctx: click.Context, name: str, config_path: str | None,
                     db: str | None) -> None:
    """Restore the version of NAME that was active before the current one."""
    from ottwatch.learning import registry

    _, engine, _ = _open(*_options(ctx, config_path, db))
    try:
        old, new = registry.rollback(engine, name, now=time.time(), actor=_actor())
    except registry.RegistryError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    click.echo(f"{name} rolled back from v{old} to v{new}")


# -- predict ------------------------------------------------------------------------------
@click.command("predict")
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@config_option
@db_option
def predict_command(user_id: str, as_json: bool, config_path: str | None,
                    db: str | None) -> None:
    """USER_ID's violation likelihood from recent events, and the regulation most at risk."""
    from ottwatch.learning.users import predict_user

    config, engine, settings = _open(config_path, db)
    try:
        prediction = predict_user(engine, user_id, settings=settings,
                                  context=_context(config)())
    finally:
        engine.dispose()
    if prediction is None:
        raise click.ClickException(f"no stored events for user {visible(user_id)!r}")
    if as_json:
        _echo_json(prediction.to_dict())
        return
    if prediction.likelihood is None:
        click.echo(f"{visible(user_id)}: {visible(prediction.note)}")
    else:
        verdict = "LIKELY VIOLATION" if prediction.likelihood >= prediction.threshold \
            else "below threshold"
        click.echo(f"{visible(user_id)}: likelihood {prediction.likelihood:.2f} ({verdict}, threshold "
                   f"{prediction.threshold:g}; predictor v{prediction.model_version})")
        click.echo(f"  event {visible(prediction.event_id)}; latest event "
                   f"{prediction.latest:.2f}; {visible(prediction.note)}")
    risk = prediction.regulation
    click.echo(f"  regulation most at risk: {visible(risk.regulation or 'none identified')} "
               f"({visible(risk.why)})")


commands = [label_command, retrain_command, models_command, predict_command]
