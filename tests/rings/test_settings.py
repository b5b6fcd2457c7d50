from __future__ import annotations

import pytest
from pydantic import ValidationError

from ottwatch.config import Config
from ottwatch.rings import RingSettings, RingStage


def test_defaults() -> None:
    settings = RingSettings()
    assert settings.kind_weights == {"payment": 1.0, "device": 0.7, "ip": 0.2}
    assert (settings.degree_cap, settings.min_ring_size, settings.window_days) == (50, 5, 30.0)
    assert (settings.detect_interval_s, settings.member_weight) == (60.0, 40.0)


def test_rings_section_configures_the_stage() -> None:
    config = Config(rings={"min_ring_size": 3, "kind_weights": {"ip": 0.1}})
    stage = RingStage.from_config(config)
    assert stage.settings.min_ring_size == 3
    assert stage.settings.kind_weights == {"payment": 1.0, "device": 0.7, "ip": 0.1}


@pytest.mark.parametrize("bad", [{"kind_weights": {"email": 1.0}},
                                 {"kind_weights": {"ip": 2.0}},
                                 {"degree_cap": 1}, {"surprise": True}])
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        RingSettings.model_validate(bad)
