"""The SLA page's latest breaches: a breach whose clock a merge cancelled afterwards says
so, with the cancel time; the others show no such badge."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from tests.unit.console.test_app import FakeMesh, sign_in
from triage.runtime import to_timestamp
from triage.sla.v1 import resources_pb2 as sla_res
from triage.sla.v1 import sla_service_pb2 as sla_api

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def _breach(number: int, *, cancelled: datetime | None = None) -> sla_res.Breach:
    breach = sla_res.Breach(
        ticket=sla_res.SlaTicketRef(ticket_id=f"t{number}", number=number, title="Disk low"),
        target_kind=sla_res.SLA_TARGET_KIND_FIRST_RESPONSE,
        due_time=to_timestamp(NOW - timedelta(hours=3)),
        breach_time=to_timestamp(NOW - timedelta(hours=3)),
    )
    if cancelled is not None:
        breach.cancel_time.CopyFrom(to_timestamp(cancelled))
    return breach


def _answer(mesh: FakeMesh, *breaches: sla_res.Breach) -> None:
    mesh.answers["ListCalendars"] = sla_api.ListCalendarsResponse()
    mesh.answers["ListSlaPolicies"] = sla_api.ListSlaPoliciesResponse()
    mesh.answers["ListBreaches"] = sla_api.ListBreachesResponse(breaches=list(breaches))


def _item(html: str, number: int) -> str:
    found = re.search(rf'<li><a href="/tickets/t{number}">.*?</li>', html, re.S)
    assert found, html
    return found.group(0)


async def test_a_breach_cancelled_by_a_merge_shows_its_cancel_time(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    cancelled_at = NOW - timedelta(hours=1)
    _answer(mesh, _breach(7, cancelled=cancelled_at), _breach(8))
    await sign_in(client)
    page = await client.get("/sla")
    assert page.status_code == 200, page.text
    cancelled = _item(page.text, 7)
    stamp = cancelled_at.strftime("%Y-%m-%d %H:%MZ")
    assert f"cancelled {stamp} (merged)" in cancelled
    assert 'class="badge sla-cancelled"' in cancelled
    assert "cancelled" not in _item(page.text, 8)
