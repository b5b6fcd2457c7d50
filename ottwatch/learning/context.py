"""The stages whose columns the feature extractor reads (`geo`, `segment`), built
fresh from the config, to replay stored events exactly as the live stage saw them."""

from __future__ import annotations

from ottwatch.config import Config
from ottwatch.pipeline import Stage

CONTEXT_STAGES = ("geo", "segments")


def context_stages(config: Config) -> list[Stage]:
    from ottwatch.pipeline_build import build_stages

    return build_stages(config, CONTEXT_STAGES)
