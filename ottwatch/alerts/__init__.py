"""Alerting: grouped, routed, silenced alerts with an outbox and an apprise sender.

- `sink.AlertSink` (a pipeline sink): alerts and outbox rows in the batch's transaction.
- `sender.AlertSender`: the only I/O; sends due outbox rows with apprise, retries, expires.
- `store`: silences, acks, queries; `export.alerts`: `export --what alerts`.
- `service`: what the runner wires (`build_alert_sink`, `prepare_sink`, `run_alerting`).

Submodules are imported where used, so the pipeline does not load apprise.
"""
