"""Request plumbing every page shares: the session, forms, CSRF, rendering, API calls."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from services.console.mesh import ApiError, Mesh
from services.console.oidc import Provider
from services.console.session import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    Session,
    SessionCodec,
    secure_cookie,
)
from services.console.settings import ConsoleSettings

TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 256 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class NotSignedIn(Exception):
    """The request has no valid session; the user is sent to the sign-in page."""


class BadForm(Exception):
    """A form that cannot be read (too large, not urlencoded)."""


@dataclass
class Console:
    """What every request reaches through ``request.app.state.console``."""

    settings: ConsoleSettings
    mesh: Mesh
    codec: SessionCodec
    templates: Jinja2Templates
    #: The OIDC provider when sign-in by OIDC is configured.
    oidc: Provider | None = None


def console(request: Request) -> Console:
    """The app's shared objects."""
    found: Console = request.app.state.console
    return found


def session_of(request: Request) -> Session | None:
    """The request's session, if its cookie opens and has not expired."""
    cached = request.scope.get("triage.session", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    session = console(request).codec.open(request.cookies.get(COOKIE_NAME))
    request.scope["triage.session"] = session
    return session


def signed_in(request: Request) -> Session:
    """The request's session, or :class:`NotSignedIn`."""
    session = session_of(request)
    if session is None:
        raise NotSignedIn
    return session


def secure(request: Request) -> bool:
    """Whether this request's cookies must carry the Secure flag."""
    return secure_cookie(
        console(request).settings.console_secure_cookies,
        scheme=request.url.scheme,
        forwarded_proto=request.headers.get("x-forwarded-proto"),
    )


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The urlencoded form body, every value of every field (bounded in size)."""
    cached = request.scope.get("triage.form")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("", "application/x-www-form-urlencoded"):
        raise BadForm("forms are sent urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadForm("form too large")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    request.scope["triage.form"] = parsed
    return parsed


async def form(request: Request) -> dict[str, str]:
    """The form body, the last value of each field, stripped."""
    return {k: v[-1].strip() for k, v in (await form_lists(request)).items()}


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """Render ``template`` with the session, CSRF token and the current time in context."""
    session = session_of(request)
    return console(request).templates.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "claims": session.claims if session else None,
            "csrf": session.csrf if session else "",
            "now": datetime.now(UTC),
            "path": request.url.path,
            **context,
        },
        status_code=status,
    )


async def call(request: Request, service: str, method: str, message: Message) -> Any:
    """Call a service as the signed-in user (raises :class:`ApiError` or NotSignedIn)."""
    session = signed_in(request)
    return await console(request).mesh.call(session.token, service, method, message)


async def call_or_none(request: Request, service: str, method: str, message: Message) -> Any:
    """Like :func:`call`, but None when the service refuses (a panel that can be left out)."""
    try:
        return await call(request, service, method, message)
    except ApiError as error:
        if error.code == "UNAUTHENTICATED":
            raise
        return None


def page(path: str, handler: Handler) -> Route:
    """A GET route that needs a session."""

    async def endpoint(request: Request) -> Response:
        signed_in(request)
        return await handler(request)

    return Route(path, endpoint, methods=["GET"], name=handler.__name__)


def action(path: str, handler: Handler) -> Route:
    """A POST route that needs a session and this session's CSRF token (form field or
    ``X-CSRF-Token`` header); anything else is refused before the handler runs."""

    async def endpoint(request: Request) -> Response:
        session = signed_in(request)
        given = request.headers.get(CSRF_HEADER) or (await form(request)).get(CSRF_FIELD)
        if not session.csrf_ok(given):
            return render(
                request,
                "error.html",
                403,
                title="Form expired",
                message="This form's security token is missing or stale. Reload the page and "
                "try again.",
            )
        return await handler(request)

    return Route(path, endpoint, methods=["POST"], name=handler.__name__)


def back_to(url: str, flash: str = "") -> RedirectResponse:
    """303 to ``url`` (post/redirect/get), with an optional notice in the query string."""
    if flash:
        url += ("&" if "?" in url else "?") + "notice=" + quote(flash)
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, coming back here afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def now_ts() -> float:
    """Seconds since the epoch (one seam for tests)."""
    return time.time()
