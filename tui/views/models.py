"""Models: ensemble and predictor versions, metrics and drift; retrain, promote and
roll back through the running agent (the commands table), with the result shown."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from storage import console, operator
from tui.safe import clock, visible
from tui.views.tables import MeasuredTable, deliver, refill, selected_key, show_text

STATUS_STYLES = {"active": "bold green", "candidate": "yellow", "retired": "dim"}


def metric(metrics: dict[str, Any], *names: str) -> str:
    for name in names:
        value = metrics.get(name)
        if isinstance(value, int | float):
            return f"{value:.3f}"
    return "-"


def drift_text(drift: dict[str, Any] | None) -> Text:
    if not drift:
        return Text("-")
    if drift.get("drifted"):
        features = ", ".join(map(str, drift.get("drifted_features") or [])) or "scores"
        return Text(f"drift: {visible(features)[:40]}", style="bold red")
    return Text(f"stable (max PSI {drift.get('max_psi', 0):.2f})", style="green")


class ModelsView(Vertical):
    BINDINGS = [
        Binding("r", "retrain", "Retrain"),
        Binding("P", "promote", "Promote"),
        Binding("R", "rollback", "Roll back"),
    ]

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.command_id: int | None = None
        self.models: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="models-summary")
        table: DataTable[Any] = MeasuredTable(id="models-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("model", "version", "status", "trained", "samples", "ROC AUC", "F1",
                          "precision", "recall", "drift")
        yield table
        yield Static("", id="models-command")

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="models")
    def _load(self) -> None:
        models = console.models(self.engine)  # not the registry: it imports joblib, numpy
        labels = console.label_counts(self.engine)
        command = operator.command_status(self.engine, self.command_id) \
            if self.command_id is not None else None
        beat = console.heartbeat(self.engine)
        deliver(self.app, self._show, models, labels, command, beat)

    def _show(self, models: list[Any], labels: dict[str, int], command: dict[str, Any] | None,
              beat: dict[str, Any] | None) -> None:
        ordered = sorted(models, key=lambda m: (m["name"], -m["version"]))
        self.models = {f"{m['name']}:{m['version']}": m for m in ordered}
        show_text(self.query_one("#models-summary", Static),
                  f"labels: {labels.get('violation', 0)} violation, "
                  f"{labels.get('benign', 0)} benign"
                  "   (r retrain, P promote the selected version, R roll back its model)")
        rows = []
        for m in ordered:
            metrics = m["metrics"] or {}
            rows.append((m["name"], str(m["version"]),
                         Text(m["status"], style=STATUS_STYLES.get(m["status"], "")),
                         clock(m["trained_at"]), f"{m['samples']:,}",
                         metric(metrics, "roc_auc", "auc"), metric(metrics, "f1"),
                         metric(metrics, "precision"), metric(metrics, "recall"),
                         drift_text(m["drift"])))
        refill(self.query_one(MeasuredTable), rows, list(self.models))
        show_text(self.query_one("#models-command", Static), self._command_text(command, beat))

    @staticmethod
    def _command_text(command: dict[str, Any] | None, beat: dict[str, Any] | None) -> Text:
        if command is None:
            return Text("")
        text = Text(f"{command['kind']} #{command['id']}: ", style="bold")
        status = command["status"]
        if status == "pending":
            text.append("waiting for the agent" if beat else "waiting: no agent has been seen",
                        style="yellow")
        elif status == "running":
            text.append("the agent is working on it…", style="yellow")
        elif status == "done":
            text.append("done  ", style="green")
            text.append(visible(summarise(command.get("result") or {})))
        else:
            text.append("failed  ", style="bold red")
            text.append(visible((command.get("result") or {}).get("error", "")))
        return text

    def _send(self, kind: str, args: dict[str, Any]) -> None:
        self.command_id = operator.queue_command(self.engine, kind,
                                                 {**args, "actor": operator.actor()})
        self.notify(f"{kind} sent to the agent (command #{self.command_id})", markup=False)
        self._load()

    def _selected(self) -> Any:
        key = selected_key(self.query_one(DataTable))
        return self.models.get(key) if key else None

    def action_retrain(self) -> None:
        self._send("retrain", {"model": "all"})

    def action_promote(self) -> None:
        model = self._selected()
        if model is not None:
            self._send("promote", {"name": model["name"], "version": model["version"]})

    def action_rollback(self) -> None:
        model = self._selected()
        if model is not None:
            self._send("rollback", {"name": model["name"]})


def summarise(result: dict[str, Any]) -> str:
    """The messages of a retrain, promote or rollback result."""
    if "message" in result:
        return str(result["message"])
    return "; ".join(str(item.get("message", "")) for item in result.get("results", []))
