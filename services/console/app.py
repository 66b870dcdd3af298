"""The Starlette application: routes from each page module, error pages, headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console import filters
from services.console.errors import error_page
from services.console.mesh import ApiError, Mesh
from services.console.oidc import Provider
from services.console.session import COOKIE_NAME, SessionCodec
from services.console.settings import ConsoleSettings
from services.console.views import (
    alerts,
    auth,
    channels,
    integrations,
    notify,
    now,
    oidc,
    rules,
    sla,
    tickets,
    windows,
)
from services.console.web import TEMPLATES, BadForm, Console, NotSignedIn, login_redirect, render

STATIC = Path(__file__).parent / "static"
#: Only this origin's scripts and styles; no framing; forms post here only.
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


class SecurityHeaders:
    """Adds CSP, nosniff, referrer and no-store headers to every HTML answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    if exc.code == "UNAUTHENTICATED":
        response = login_redirect(request)
        response.delete_cookie(COOKIE_NAME, path="/")
        return response
    shown = error_page(exc, method=request.method)
    return render(request, "error.html", shown.status, title=shown.title, message=shown.message)


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    return login_redirect(request)


async def _bad_form(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", 400, title="Bad form", message=str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", 404, title="Not found", message="There is no such page.")


async def _health(request: Request) -> Response:
    return PlainTextResponse("ok")


def build_app(
    settings: ConsoleSettings, mesh: Mesh | None = None, oidc_http: httpx.AsyncClient | None = None
) -> Starlette:
    """The console app over ``mesh`` (built from ``settings`` when not given); OIDC sign-in
    talks to the provider through ``oidc_http`` (a new client when not given)."""
    mesh = mesh or Mesh(
        {name: settings.address(name) for name in ("ingest", "rules", "tickets", "sla", "notify")},
        timeout=settings.console_call_timeout,
    )
    templates = Jinja2Templates(directory=str(TEMPLATES))
    filters.install(templates.env)
    state = Console(
        settings=settings,
        mesh=mesh,
        codec=SessionCodec(
            settings.console_session_key, max_age=settings.console_session_hours * 3600
        ),
        templates=templates,
    )
    if settings.oidc_enabled:
        oidc_http = oidc_http or httpx.AsyncClient(follow_redirects=False)
        state.oidc = Provider(settings, oidc_http)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await mesh.close()
        if state.oidc is not None:
            await state.oidc.http.aclose()

    routes: list[Route | Mount] = [
        Route("/healthz", _health, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    for module in (
        auth,
        oidc,
        now,
        tickets,
        alerts,
        rules,
        windows,
        integrations,
        notify,
        channels,
        sla,
    ):
        routes += module.ROUTES
    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            ApiError: _api_error,
            NotSignedIn: _not_signed_in,
            BadForm: _bad_form,
            404: _not_found,
        },
        lifespan=lifespan,
    )
    app.state.console = state
    return app
