"""The scoring stages; `ottwatch.stages.table.PARTS` lists every part in pipeline
order, and `ottwatch.pipeline_build` assembles them from the config."""
