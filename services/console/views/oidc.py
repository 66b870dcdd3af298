"""OIDC sign-in routes: redirect to the provider, and its callback minting a session."""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.console.oidc import FLOW_SECONDS, Flow, NoGrant, OidcError, grant_for, mint
from services.console.session import COOKIE_NAME, BadToken, Session
from services.console.views.auth import safe_next
from services.console.web import console, render, secure

FLOW_COOKIE = "triage_console_oidc"


def _redirect_uri(request: Request) -> str:
    configured = console(request).settings.console_oidc_redirect_url
    return configured or str(request.url_for("oidc_callback"))


def _refused(request: Request, message: str, status: int) -> Response:
    response = render(request, "error.html", status, title="Sign-in failed", message=message)
    response.delete_cookie(FLOW_COOKIE, path="/oidc")
    return response


async def oidc_login(request: Request) -> Response:
    """Start a sign-in: a sealed state/nonce/verifier cookie, then the provider."""
    app = console(request)
    if app.oidc is None:
        return render(request, "error.html", 404, title="Not found", message="OIDC is off.")
    flow = Flow.new(safe_next(request.query_params.get("next")))
    try:
        target = await app.oidc.authorize_url(flow, _redirect_uri(request))
    except OidcError as exc:
        return _refused(request, str(exc), 502)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        app.codec.seal_data(flow.as_dict()),
        max_age=FLOW_SECONDS,
        path="/oidc",
        httponly=True,
        secure=secure(request),
        # The provider's redirect back is a top-level cross-site GET: Lax sends it.
        samesite="lax",
    )
    return response


async def oidc_callback(request: Request) -> Response:
    """Check state, exchange the code with its verifier, check the ID token, map claims
    to a grant, mint a mesh token and start the session."""
    app = console(request)
    if app.oidc is None:
        return render(request, "error.html", 404, title="Not found", message="OIDC is off.")
    q = request.query_params
    sealed = app.codec.open_data(request.cookies.get(FLOW_COOKIE), ttl=FLOW_SECONDS)
    if sealed is None:
        return _refused(request, "This sign-in expired or began elsewhere; start again.", 400)
    flow = Flow.from_dict(sealed)
    if q.get("error"):
        return _refused(request, f"The identity provider said: {q.get('error')}", 400)
    if not q.get("state") or not _same(q["state"], flow.state) or not q.get("code"):
        return _refused(request, "This sign-in's state does not match; start again.", 400)
    try:
        claims = await app.oidc.exchange(q["code"], flow, _redirect_uri(request))
        grant = grant_for(claims, app.settings.console_oidc_grants)
        session = Session.start(mint(app.settings, claims, grant))
    except NoGrant as exc:
        return _refused(request, str(exc), 403)
    except (OidcError, BadToken) as exc:
        return _refused(request, str(exc), 400)
    response = RedirectResponse(flow.next, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        app.codec.seal(session),
        max_age=int(session.expires_at(app.codec.max_age) - session.created_at),
        path="/",
        httponly=True,
        secure=secure(request),
        samesite="lax",
    )
    response.delete_cookie(FLOW_COOKIE, path="/oidc")
    return response


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


ROUTES = [
    Route("/oidc/login", oidc_login, methods=["GET"], name="oidc_login"),
    Route("/oidc/callback", oidc_callback, methods=["GET"], name="oidc_callback"),
]
