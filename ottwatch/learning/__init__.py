"""The learning loop: shared features, an anomaly ensemble, a violation predictor
trained on confirmed outcomes, a model registry with promotion and rollback,
retrain triggers and drift checks.

- `features`: the one feature extractor (training and scoring), `FEATURES`
- `ensemble`, `predictor`: the models; `stage.LearningStage` applies them
- `dataset`, `train`: training sets replayed from the database, `retrain`, `promote`
- `registry`: versions in the `models` table, activation, rollback
- `drift`: PSI and KS against the training baseline
- `runtime.LearningRuntime`: the agent side (loading, triggers, commands)
"""

MODEL_NAMES = ("ensemble", "predictor")
