"""`mode` in a detector's config section: "active" (the default) scores and alerts;
"shadow" records the detector's reasons, marked shadow, and adds nothing to any score
and raises no alert, so a new rule can be watched on live traffic before it acts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class DetectorMode(BaseModel):
    mode: Literal["active", "shadow"] = "active"
