"""Rule delete, window editor and field placement: pure form logic and the routes' calls."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from services.console.mesh import ApiError
from services.console.views.fields import place
from services.console.views.window_form import FIELDS, form_time, window_from_form
from tests.unit.console.test_app import FakeMesh, sign_in
from triage.rules.v1 import resources_pb2 as rules_res
from triage.rules.v1 import rules_service_pb2 as rules_api


def test_place_finds_the_field_behind_request_prefixes_and_indexes() -> None:
    placed = place(
        {
            "maintenance_window.one_off.end_time": "must be after start",
            "maintenance_window.scope.clients[3]": "too long",
            "maintenance_window.recurring": "needs a duration",
            "something.else": "odd",
        },
        FIELDS,
    )
    assert placed == {
        "end": "must be after start",
        "clients": "too long",
        "rrule": "needs a duration",
        "_": "odd",
    }


def test_window_form_one_off_and_recurring() -> None:
    once, paths, errors = window_from_form(
        {
            "display_name": " Patch night ",
            "schedule": "one_off",
            "start": "2026-03-21T22:00",
            "end": "2026-03-22T02:00",
            "clients": "acme, globex ,",
        }
    )
    assert not errors and once.display_name == "Patch night"
    assert once.WhichOneof("schedule") == "one_off"
    assert form_time(once.one_off.end_time) == "2026-03-22T02:00"
    assert list(once.scope.clients) == ["acme", "globex"]
    assert "one_off" in paths and "scope" in paths
    weekly, paths, errors = window_from_form(
        {
            "display_name": "Saturdays",
            "schedule": "recurring",
            "start": "2026-03-21T22:00",
            "rrule": "RRULE:FREQ=WEEKLY;BYDAY=SA",
            "duration_minutes": "90",
        },
        base=once,
    )
    assert not errors and weekly.WhichOneof("schedule") == "recurring"
    assert weekly.recurring.rrule == "FREQ=WEEKLY;BYDAY=SA"
    assert weekly.recurring.duration.seconds == 5400
    assert list(weekly.scope.clients) == [], "the form's empty scope replaces the stored one"
    assert "recurring" in paths
    _, _, errors = window_from_form(
        {"schedule": "recurring", "start": "next tuesday", "duration_minutes": "1.5h"}
    )
    assert set(errors) == {"start", "duration_minutes"}


async def test_window_api_errors_are_shown_beside_their_fields(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    mesh.answers["CreateMaintenanceWindow"] = ApiError(
        "INVALID_ARGUMENT",
        "bad window",
        {"maintenance_window.one_off.end_time": "end_time must be after start_time"},
    )
    reply = await client.post(
        "/windows/new",
        data={
            "csrf_token": csrf,
            "display_name": "w",
            "schedule": "one_off",
            "start": "2026-03-21T22:00",
            "end": "2026-03-21T21:00",
        },
    )
    assert reply.status_code == 400
    assert 'id="end-error"' in reply.text and "must be after start_time" in reply.text
    sent = next(r for _, m, r in mesh.calls if m == "CreateMaintenanceWindow")
    assert isinstance(sent, rules_api.CreateMaintenanceWindowRequest)
    start = sent.maintenance_window.one_off.start_time.ToDatetime(tzinfo=UTC)
    assert start == datetime(2026, 3, 21, 22, 0, tzinfo=UTC)


async def test_window_update_sends_the_etag_and_mask(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    stored = rules_res.MaintenanceWindow(id="w1", display_name="old", etag="e1")
    mesh.answers["GetMaintenanceWindow"] = rules_api.GetMaintenanceWindowResponse(
        maintenance_window=stored
    )
    mesh.answers["UpdateMaintenanceWindow"] = rules_api.UpdateMaintenanceWindowResponse(
        maintenance_window=stored
    )
    reply = await client.post(
        "/windows/w1",
        data={"csrf_token": csrf, "etag": "e1", "display_name": "new", "start": ""},
    )
    assert reply.status_code == 303 and reply.headers["location"].startswith("/windows/w1")
    sent = next(r for _, m, r in mesh.calls if m == "UpdateMaintenanceWindow")
    assert isinstance(sent, rules_api.UpdateMaintenanceWindowRequest)
    assert sent.maintenance_window.etag == "e1"
    assert sent.maintenance_window.display_name == "new"
    assert set(sent.update_mask.paths) == {"display_name", "description", "one_off", "scope"}


async def test_rule_delete_from_the_list_sends_the_etag(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    mesh.answers["DeleteRule"] = rules_api.DeleteRuleResponse(rule_set_version=4)
    reply = await client.post(
        "/rules/r1/delete", data={"csrf_token": csrf, "etag": "7", "request_id": "x"}
    )
    assert reply.status_code == 303 and "Rule%20deleted" in reply.headers["location"]
    sent = next(r for _, m, r in mesh.calls if m == "DeleteRule")
    assert isinstance(sent, rules_api.DeleteRuleRequest)
    assert (sent.rule_id, sent.etag) == ("r1", "7")
    no_csrf = await client.post("/rules/r1/delete", data={"etag": "7"})
    assert no_csrf.status_code == 403
