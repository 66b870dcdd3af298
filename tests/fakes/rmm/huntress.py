"""Fake Huntress API v1: Basic ``key:secret``, ``GET /v1/incident_reports`` paged by
``page_token``, ``POST /v1/incident_reports/{id}/resolution``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Answer, FakeApi, Request


def incident_report(report_id: int, **extra: Any) -> dict[str, Any]:
    """An incident report as the REST API returns it."""
    return {
        "id": report_id,
        "account_id": 901,
        "agent_id": 551902,
        "body": "Huntress detected a persistent foothold.",
        "closed_at": None,
        "indicator_counts": {"footholds": 1},
        "indicator_types": ["footholds"],
        "organization_id": 3307,
        "platform": "windows",
        "sent_at": "2025-03-19T13:41:15Z",
        "severity": "critical",
        "status": "sent",
        "status_updated_at": "2025-03-19T13:41:15Z",
        "subject": f"CRITICAL - Incident {report_id} on RECEPTION-02",
        "summary": "Malicious scheduled task found.",
        "updated_at": "2025-03-19T13:41:15Z",
        **extra,
    }


class FakeHuntress(FakeApi):
    """Huntress with one API key pair."""

    def __init__(self, api_key: str = "hk", api_secret: str = "hs") -> None:
        """An account whose API credentials are ``api_key``/``api_secret``."""
        self.api_key = api_key
        self.api_secret = api_secret
        #: The most a page holds (Huntress's documented maximum is 500).
        self.page_cap = 500
        super().__init__()

    def routes(self) -> list[tuple[str, str, Callable[..., Answer]]]:
        """List and resolve."""
        return [
            ("GET", "/v1/incident_reports", self._list),
            ("POST", r"/v1/incident_reports/(?P<report_id>\d+)/resolution", self._resolve),
        ]

    def _list(self, request: Request) -> Answer:
        if request.basic_auth() != (self.api_key, self.api_secret):
            return Answer(401, {"error": "unauthorized"})
        reports = self.alerts
        if "status" in request.query:
            reports = [r for r in reports if r.get("status") == request.query["status"]]
        limit = max(1, min(int(request.query.get("limit", "10")), self.page_cap))
        start = int(request.query.get("page_token") or 0)
        page = reports[start : start + limit]
        more = start + limit < len(reports)
        base = f"{request.origin}/v1/incident_reports"
        pagination = (
            {
                "next_page_token": str(start + limit),
                "next_page_url": f"{base}?page_token={start + limit}",
            }
            if more
            else {}
        )
        return Answer(200, {"incident_reports": page, "pagination": pagination})

    def _resolve(self, request: Request, report_id: str) -> Answer:
        if request.basic_auth() != (self.api_key, self.api_secret):
            return Answer(401, {"error": "unauthorized"})
        report = next((r for r in self.alerts if str(r["id"]) == report_id), None)
        if report is None:
            return Answer(404, {"error": "not found"})
        if report["status"] != "sent":
            return Answer(
                422, {"error": "Incident Report cannot be resolved unless status is 'sent'."}
            )
        report.update(status="closed", closed_at="2025-03-19T15:00:00Z")
        self.resolved.append(report_id)
        return Answer(201, {"incident_report": report})
