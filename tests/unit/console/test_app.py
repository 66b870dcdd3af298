"""The console's HTTP behaviour without a browser or a mesh: sign-in, the session cookie,
CSRF on every POST, error pages, headers; the services are a recording fake."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from google.protobuf.message import Message

from services.console.app import build_app
from services.console.mesh import ApiError, Mesh
from services.console.session import COOKIE_NAME, LOGIN_CSRF_COOKIE
from services.console.settings import ConsoleSettings
from tests.unit.console.test_session import USER, token
from triage.tickets.v1 import resources_pb2 as tickets_res
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

WRITER = token(USER)
READER = token({**USER, "scope": "tickets:read"})


class FakeMesh(Mesh):
    """Answers from ``answers`` (a message, or an ApiError to raise) and records calls;
    anything unanswered is UNIMPLEMENTED (a panel the page leaves out)."""

    def __init__(self) -> None:
        super().__init__({})
        self.answers: dict[str, Message | ApiError] = {
            "ListTickets": tickets_api.ListTicketsResponse(),
        }
        self.calls: list[tuple[str, str, Message]] = []

    async def call(self, token: str, service: str, method: str, request: Message) -> Any:
        self.calls.append((token, method, request))
        answer = self.answers.get(method, ApiError("UNIMPLEMENTED", "not here"))
        if isinstance(answer, ApiError):
            raise answer
        return answer

    def methods(self) -> list[str]:
        return [m for _, m, _ in self.calls]


@pytest.fixture
def mesh() -> FakeMesh:
    return FakeMesh()


@pytest.fixture
async def client(mesh: FakeMesh) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(ConsoleSettings(console_session_key="test-key"), mesh)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as c:
        yield c


async def sign_in(client: httpx.AsyncClient, text: str = WRITER, **headers: str) -> str:
    """Sign in through the form; the CSRF token of the new session."""
    page = await client.get("/login")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce
    reply = await client.post(
        "/login",
        data={"csrf_token": nonce.group(1), "token": text, "next": "/tickets"},
        headers=headers,
    )
    assert reply.status_code == 303, reply.text
    board = await client.get("/tickets")
    found = re.search(r'"x-csrf-token": "([^"]+)"', board.text)
    assert found
    return found.group(1)


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    reply = await client.get("/tickets?state=open")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=/tickets%3Fstate%3Dopen"


async def test_sign_in_sets_an_httponly_lax_cookie_and_checks_the_token(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    await sign_in(client)
    assert mesh.calls[0][:2] == (WRITER, "ListTickets")
    cookie = client.cookies.get(COOKIE_NAME)
    assert cookie and WRITER not in cookie, "the token is sealed, not stored in clear"


async def test_session_cookie_flags(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce
    plain = await client.post("/login", data={"csrf_token": nonce.group(1), "token": WRITER})
    header = plain.headers["set-cookie"].lower()
    assert f"{COOKIE_NAME}=" in header and "httponly" in header and "samesite=lax" in header
    assert "secure" not in header
    client.cookies.clear()
    page = await client.get("/login", headers={"x-forwarded-proto": "https"})
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce
    tls = await client.post(
        "/login",
        data={"csrf_token": nonce.group(1), "token": WRITER},
        headers={"x-forwarded-proto": "https"},
    )
    assert "secure" in tls.headers["set-cookie"].lower()


async def test_sign_in_form_is_csrf_protected(client: httpx.AsyncClient, mesh: FakeMesh) -> None:
    await client.get("/login")
    client.cookies.set(LOGIN_CSRF_COOKIE, "mine", domain="console.test", path="/login")
    reply = await client.post("/login", data={"csrf_token": "theirs", "token": WRITER})
    assert reply.status_code == 403
    assert f"{COOKIE_NAME}=" not in reply.headers.get("set-cookie", "")
    assert mesh.calls == []


async def test_a_refused_token_does_not_sign_in(client: httpx.AsyncClient, mesh: FakeMesh) -> None:
    mesh.answers["ListTickets"] = ApiError("UNAUTHENTICATED", "bad signature")
    page = await client.get("/login")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce
    reply = await client.post("/login", data={"csrf_token": nonce.group(1), "token": WRITER})
    assert reply.status_code == 200 and "refused this token" in reply.text
    assert not client.cookies.get(COOKIE_NAME)


async def test_next_is_local_only(client: httpx.AsyncClient) -> None:
    page = await client.get("/login?next=//evil.example/x")
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert nonce and 'name="next" value="/"' in page.text
    reply = await client.post(
        "/login",
        data={"csrf_token": nonce.group(1), "token": WRITER, "next": "https://evil.example"},
    )
    assert reply.headers["location"] == "/"


async def test_every_post_needs_the_sessions_csrf_token(
    client: httpx.AsyncClient, mesh: FakeMesh
) -> None:
    csrf = await sign_in(client)
    mesh.answers["AddComment"] = tickets_api.AddCommentResponse()
    forged: list[dict[str, str]] = [{"body": "x"}, {"body": "x", "csrf_token": "forged"}]
    for data in forged:
        reply = await client.post("/tickets/t1/comment", data=data)
        assert reply.status_code == 403
        reply = await client.post("/tickets/t1/comment", data=data, headers={"x-csrf-token": "no"})
        assert reply.status_code == 403
    assert "AddComment" not in mesh.methods()
    reply = await client.post(
        "/tickets/t1/comment",
        data={"body": "Freed 20 GB", "visibility": "public", "request_id": "r-1"},
        headers={"x-csrf-token": csrf},
    )
    assert reply.status_code == 303 and reply.headers["location"].startswith("/tickets/t1?")
    used, method, request = mesh.calls[-1]
    assert (used, method) == (WRITER, "AddComment")
    assert isinstance(request, tickets_api.AddCommentRequest)
    assert request.comment.body == "Freed 20 GB"
    assert request.comment.visibility == tickets_res.COMMENT_VISIBILITY_PUBLIC
    assert request.request_id == "r-1"


async def test_service_refusals_become_pages(client: httpx.AsyncClient, mesh: FakeMesh) -> None:
    csrf = await sign_in(client)
    mesh.answers["CloseTicket"] = ApiError("PERMISSION_DENIED", "missing scope 'tickets:write'")
    reply = await client.post("/tickets/t1/close", data={"csrf_token": csrf})
    assert reply.status_code == 403 and "Not allowed" in reply.text
    mesh.answers["GetTicket"] = ApiError("NOT_FOUND", "no such ticket")
    assert (await client.get("/tickets/other-tenants")).status_code == 404
    mesh.answers["GetTicket"] = ApiError("INVALID_ARGUMENT", "ticket_id: not a UUID")
    assert (await client.get("/tickets/garbage")).status_code == 404
    mesh.answers["GetTicket"] = ApiError("UNAVAILABLE", "connection refused")
    assert (await client.get("/tickets/t1")).status_code == 503
    mesh.answers["GetTicket"] = ApiError("UNAUTHENTICATED", "token expired")
    reply = await client.get("/tickets/t1")
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")
    assert f'{COOKIE_NAME}=""' in reply.headers["set-cookie"]


async def test_read_only_token_sees_no_actions(client: httpx.AsyncClient, mesh: FakeMesh) -> None:
    ticket = tickets_res.Ticket(id="t1", number=7, title="Disk C: low", etag="e")
    mesh.answers["GetTicket"] = tickets_api.GetTicketResponse(ticket=ticket)
    await sign_in(client, READER)
    page = await client.get("/tickets/t1")
    assert page.status_code == 200
    assert "read-only for tickets" in page.text
    assert "Add comment" not in page.text and "Close ticket" not in page.text
    client.cookies.clear()
    await sign_in(client, WRITER)
    page = await client.get("/tickets/t1")
    assert "Add comment" in page.text and "Close ticket" in page.text


async def test_pages_carry_security_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert (await client.get("/static/htmx.min.js")).status_code == 200
