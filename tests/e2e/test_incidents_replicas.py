"""Incidents with 3 replicas of rules and tickets (2 of the rest): the same outcomes as with
one (tests/e2e/test_incidents.py): the group key is the ordering key, so one replica decides
a group at a time, and the storm count is shared through the client's lock."""

from __future__ import annotations

import pytest

from tests.e2e import test_incidents as scenario
from tests.e2e.harness import Mesh
from tests.e2e.test_replicas import Replicas, replicas

pytestmark = pytest.mark.e2e
__all__ = ["replicas"]  # the fixture that starts the extra replicas


async def test_a_site_outage_is_one_ticket_at_three_replicas(
    mesh: Mesh, replicas: Replicas
) -> None:
    await scenario.site_outage(mesh)


async def test_a_storm_collapses_at_three_replicas(mesh: Mesh, replicas: Replicas) -> None:
    await scenario.storm_across_sites(mesh)
