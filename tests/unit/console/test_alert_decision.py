"""The alert page shows the decision logged on arrival, and the dry run as "would route now"."""

from __future__ import annotations

import httpx

from tests.unit.console.test_app import FakeMesh, sign_in
from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import resources_pb2 as ingest_res
from triage.rules.v1 import resources_pb2 as rules_res
from triage.rules.v1 import rules_service_pb2 as rules_api


def _alert(mesh: FakeMesh) -> None:
    mesh.answers["GetAlertEvent"] = ingest_api.GetAlertEventResponse(
        alert_event=ingest_res.AlertEvent(alert_id="a1", summary="Disk low", series_key="s1")
    )


async def test_logged_decision_first_and_a_differing_dry_run_is_flagged(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    _alert(mesh)
    mesh.answers["GetAlertDecision"] = rules_api.GetAlertDecisionResponse(
        decision=rules_res.Decision(
            kind=rules_res.DECISION_KIND_ROUTED, rule_ids=["r-disk"], rule_set_version=7
        ),
        create_ticket=True,
    )
    mesh.answers["EvaluateAlert"] = rules_api.EvaluateAlertResponse(
        decision=rules_res.Decision(kind=rules_res.DECISION_KIND_UNMATCHED)
    )
    page = await client.get("/alerts/a1")
    assert page.status_code == 200
    text = page.text
    assert "Logged when the alert arrived (rule set version 7" in text
    assert 'href="/rules/r-disk"' in text and "a ticket was asked for" in text
    assert text.index("Logged when") < text.index("Would route now")
    assert "differs from the logged decision" in text


async def test_without_a_logged_decision_the_dry_run_is_shown_open(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    _alert(mesh)
    mesh.answers["EvaluateAlert"] = rules_api.EvaluateAlertResponse(
        decision=rules_res.Decision(kind=rules_res.DECISION_KIND_UNMATCHED)
    )
    page = await client.get("/alerts/a1")
    assert "No logged decision" in page.text
    assert "<details open>" in page.text and "differs" not in page.text
