"""A bad field of a request: what validation in the domain reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Violation:
    """One bad field: its path in the request and why."""

    field: str
    description: str
