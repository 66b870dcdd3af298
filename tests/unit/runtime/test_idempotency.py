"""The lock key of a request: per schema, tenant, method and request id."""

from __future__ import annotations

from sqlalchemy import MetaData

from services.tickets.models import requests as ticket_requests
from triage.runtime.idempotency import request_lock_key, requests_table


def test_the_tickets_key_is_the_one_its_earlier_release_locked() -> None:
    # Replicas of both releases must serialize the same retries during a rollout.
    key = request_lock_key(ticket_requests, tenant_id="t-1", method="CreateTicket", request_id="r")

    assert key == "tickets-request:t-1:CreateTicket:r"


def test_keys_differ_by_schema_tenant_method_and_request() -> None:
    rules, sla = requests_table(MetaData(schema="rules")), requests_table(MetaData(schema="sla"))
    base = {"tenant_id": "t-1", "method": "M", "request_id": "r"}

    keys = {
        request_lock_key(rules, **base),
        request_lock_key(sla, **base),
        request_lock_key(rules, **{**base, "tenant_id": "t-2"}),
        request_lock_key(rules, **{**base, "method": "N"}),
        request_lock_key(rules, **{**base, "request_id": "s"}),
    }

    assert len(keys) == 5
