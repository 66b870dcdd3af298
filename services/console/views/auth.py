"""Sign in by pasting a token, sign out."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.console.mesh import ApiError
from services.console.session import (
    COOKIE_NAME,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    BadToken,
    Session,
)
from services.console.web import action, console, form, render, secure, session_of
from triage.tickets.v1 import tickets_service_pb2 as tickets_api


def safe_next(target: str | None) -> str:
    """Only a local path (no scheme, no host, no ``//``) may be the place to return to."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def login_page(request: Request) -> Response:
    """The sign-in form; a fresh double-submit cookie guards it (no session exists yet)."""
    if session_of(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(request, error="")


def _login_form(request: Request, *, error: str, status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status,
        login_csrf=nonce,
        next=safe_next(request.query_params.get("next")),
        error=error,
        oidc=console(request).oidc is not None,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        nonce,
        max_age=1800,
        path="/login",
        httponly=True,
        secure=secure(request),
        samesite="strict",
    )
    return response


async def login(request: Request) -> Response:
    """Check the pasted token against the tickets API, then set the session cookie."""
    data = await form(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, data.get(CSRF_FIELD, "")):
        return _login_form(request, error="The form expired; paste the token again.", status=403)
    try:
        session = Session.start(data.get("token", ""))
    except BadToken as exc:
        return _login_form(request, error=str(exc), status=400)
    app = console(request)
    try:
        await app.mesh.call(
            session.token, "tickets", "ListTickets", tickets_api.ListTicketsRequest(page_size=1)
        )
    except ApiError as error:
        # A token without tickets:read still signs in; only a rejected token does not.
        if error.code in ("UNAUTHENTICATED", "INVALID_ARGUMENT"):
            return _login_form(request, error=f"The mesh refused this token: {error.message}")
        if error.code not in ("PERMISSION_DENIED",):
            return _login_form(request, error=f"Could not check the token: {error}", status=503)
    response = RedirectResponse(safe_next(data.get("next")), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        app.codec.seal(session),
        max_age=int(session.expires_at(app.codec.max_age) - session.created_at),
        path="/",
        httponly=True,
        secure=secure(request),
        samesite="lax",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    action("/logout", logout),
]
