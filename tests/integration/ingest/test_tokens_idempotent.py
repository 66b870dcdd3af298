"""IssueToken honours ``request_id``: a retry answers the first token (same ``jti``, one
recorded row), another request id mints a new one, and the remembered answer never holds the
token in clear."""

from __future__ import annotations

import psycopg
import pytest
from google.protobuf import duration_pb2

from tests.integration.ingest.conftest import Ingest
from tests.integration.ingest.ledger import libpq
from triage.ingest.v1 import tenant_service_pb2 as tapi

pytestmark = pytest.mark.integration


async def issue(
    ingest: Ingest, request_id: str, subject: str = "ci-bot"
) -> tapi.IssueTokenResponse:
    """IssueToken for the harness tenant under ``request_id``."""
    reply: tapi.IssueTokenResponse = await ingest.tenants.IssueToken(
        tapi.IssueTokenRequest(
            request_id=request_id,
            tenant_id=ingest.tenant_id,
            scopes=["ingest:read"],
            subject=subject,
            ttl=duration_pb2.Duration(seconds=3600),
        ),
        metadata=ingest.svc.admin_metadata(),
    )
    return reply


async def listed_ids(ingest: Ingest) -> list[str]:
    """The ``jti`` of every token recorded for the harness tenant."""
    listed = await ingest.tenants.ListTokens(
        tapi.ListTokensRequest(tenant_id=ingest.tenant_id, page_size=100),
        metadata=ingest.svc.admin_metadata(),
    )
    return [t.token_id for t in listed.tokens]


async def remembered_answers(db_url: str) -> list[bytes]:
    """Every IssueToken answer kept in ingest's requests table."""
    async with await psycopg.AsyncConnection.connect(libpq(db_url)) as conn:
        cursor = await conn.execute(
            "SELECT response FROM ingest.requests WHERE method = 'IssueToken'"
        )
        return [bytes(row[0]) for row in await cursor.fetchall()]


async def test_a_retried_issue_token_answers_the_first_token(ingest: Ingest, fresh_db: str) -> None:
    first = await issue(ingest, "issue-1")
    # A retry, even with a changed body, is the same request: the first answer comes back.
    again = await issue(ingest, "issue-1", subject="someone-else")
    assert again == first
    assert await listed_ids(ingest) == [first.token_id]

    other = await issue(ingest, "issue-2")
    assert other.token_id != first.token_id and other.token != first.token
    assert sorted(await listed_ids(ingest)) == sorted([first.token_id, other.token_id])

    # The answers carry a credential: kept sealed, never in clear.
    answers = await remembered_answers(fresh_db)
    assert len(answers) == 2
    for token in (first.token, other.token):
        assert all(token.encode() not in answer for answer in answers)


async def test_issue_token_without_a_request_id_mints_each_time(ingest: Ingest) -> None:
    one, two = await issue(ingest, ""), await issue(ingest, "")
    assert one.token_id != two.token_id
    assert sorted(await listed_ids(ingest)) == sorted([one.token_id, two.token_id])
