"""Fake RMM and security provider APIs (one ASGI app each), controllable from tests."""

from .base import Answer, FakeApi, Request
from .datto import FakeDatto, datto_alert
from .huntress import FakeHuntress, incident_report
from .level import FakeLevel, level_alert
from .ninjaone import FakeNinjaOne, ninja_alert
from .server import serving
from .tacticalrmm import FakeTacticalRmm, tactical_alert

__all__ = [
    "Answer",
    "FakeApi",
    "FakeDatto",
    "FakeHuntress",
    "FakeLevel",
    "FakeNinjaOne",
    "FakeTacticalRmm",
    "Request",
    "datto_alert",
    "incident_report",
    "level_alert",
    "ninja_alert",
    "serving",
    "tactical_alert",
]
