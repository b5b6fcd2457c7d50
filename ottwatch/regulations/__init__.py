"""Privacy regulations: the table (shipped as data, overridable in config), the
region mapping, and the compliance stage (consent, DSAR/deletion/breach deadlines)."""

from __future__ import annotations

from ottwatch.regulations.model import Children, Consent, Deadline, Fine, Regulation
from ottwatch.regulations.settings import RegulationSettings, settings_from_config
from ottwatch.regulations.stage import ComplianceStage
from ottwatch.regulations.table import (
    RegulationTable,
    RegulationTableError,
    load_table,
    regulations_for,
    strictest,
)

__all__ = [
    "Children", "ComplianceStage", "Consent", "Deadline", "Fine", "Regulation",
    "RegulationSettings", "RegulationTable", "RegulationTableError", "load_table",
    "regulations_for", "settings_from_config", "strictest",
]
