"""How a failed API call becomes a page: the status code and the words for it."""

from __future__ import annotations

from dataclasses import dataclass

from services.console.mesh import ApiError


@dataclass(frozen=True)
class ErrorPage:
    """An HTTP status with a title and a sentence for the user."""

    status: int
    title: str
    message: str


def error_page(error: ApiError, *, method: str) -> ErrorPage:
    """The page for ``error`` met while serving a ``method`` request.

    Another tenant's resource is NOT_FOUND at the service, so it is a 404 here too; a
    malformed id in a URL is the same 404 (nothing by that name exists for you).
    """
    code = error.code
    if code == "NOT_FOUND" or (code == "INVALID_ARGUMENT" and method == "GET"):
        return ErrorPage(404, "Not found", "Nothing by that name exists in your tenant.")
    if code == "PERMISSION_DENIED":
        return ErrorPage(
            403,
            "Not allowed",
            f"Your token may not do this ({error.message}). Ask for a token with the "
            "matching write scope.",
        )
    if code in ("ABORTED", "FAILED_PRECONDITION"):
        return ErrorPage(
            409, "Changed meanwhile", f"{error.message}. Reload the page to see the latest."
        )
    if code == "INVALID_ARGUMENT":
        detail = "; ".join(f"{k}: {v}" for k, v in error.fields.items()) or error.message
        return ErrorPage(400, "Not accepted", detail)
    if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        return ErrorPage(503, "Service unavailable", f"A service did not answer: {error}.")
    if code == "RESOURCE_EXHAUSTED":
        return ErrorPage(429, "Slow down", error.message)
    return ErrorPage(502, "Service error", str(error))
