"""`ottwatch eval`: the real replay of labelled scenarios, judged against their labels.

One module per job: `labels` (what a scenario says should happen, and the generic
JSON-lines label format), `scenarios` (finding or generating the scenarios and their
labels), `replay` (the replay into a new database), `results` (what the database
says happened), `metrics` (per-code counts, benign levels), `incidents` (incidents,
timers, rings and quarantine against the alerts), `report` (the figures as JSON and
Rich tables). docs/evaluation.md describes the rules and the figures."""
