"""Shared fixtures of the console unit tests: the recording fake mesh and an app client."""

from __future__ import annotations

from tests.unit.console.test_app import client, mesh

__all__ = ["client", "mesh"]
