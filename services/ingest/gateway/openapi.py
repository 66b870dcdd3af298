"""The OpenAPI 3.1 document of the webhook gateway (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from services.ingest.domain.alerts import Provider

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problem_response(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": _PROBLEM}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
        }
    return response


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Triage webhook gateway",
            "version": "1.0.0",
            "description": (
                "Receives RMM alert webhooks. A webhook is answered 202 only after every alert "
                "in it is durably stored; a redelivery gets the same answer and creates nothing."
            ),
        },
        "paths": {
            "/v1/webhooks/{provider}/{integration_id}": {
                "post": {
                    "operationId": "receiveWebhook",
                    "summary": "Deliver one webhook from an RMM",
                    "parameters": [
                        {
                            "name": "provider",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": [p.value for p in Provider]},
                        },
                        {
                            "name": "integration_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        },
                        {
                            "name": "token",
                            "in": "query",
                            "required": False,
                            "description": "the secret, for senders that can set only a URL",
                            "schema": {"type": "string"},
                        },
                    ],
                    "security": [
                        {"secretHeader": []},
                        {"bearer": []},
                        {"queryToken": []},
                        {"levelSignature": []},
                        {"svixSignature": []},
                    ],
                    "requestBody": {
                        "required": True,
                        "description": "the provider's own body (JSON, or XML for N-central)",
                        "content": {
                            "application/json": {"schema": {}},
                            "application/xml": {"schema": {"type": "string"}},
                            "text/plain": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "every alert in the body is durably stored",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        "400": _problem_response(
                            "the body cannot be understood, or its alerts cannot be stored "
                            "as sent (unreadable-body, unstorable-alert, incomplete-body)"
                        ),
                        "401": _problem_response("unknown integration or wrong secret"),
                        "403": _problem_response("the integration's tenant is suspended"),
                        "404": _problem_response("unknown provider or route"),
                        "405": _problem_response("only POST is allowed"),
                        "410": _problem_response("the integration's tenant was deleted"),
                        "408": _problem_response("the body did not arrive in time"),
                        "413": _problem_response(
                            "the body is larger than the limit, or carries more than 1,000 alerts"
                        ),
                        "415": _problem_response("unsupported content type"),
                        "429": _problem_response(
                            "the integration's rate limit was hit", retry_after=True
                        ),
                        "503": _problem_response("storage is unavailable; retry", retry_after=True),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness",
                    "responses": {
                        "200": {
                            "description": "the process is alive",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "ready",
                    "summary": "Readiness: storage and bus reachable",
                    "responses": {
                        "200": {
                            "description": "ready",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "503": _problem_response("not ready"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Accepted": {
                    "type": "object",
                    "required": ["status", "alert_ids", "duplicates"],
                    "properties": {
                        "status": {"type": "string", "const": "accepted"},
                        "alert_ids": {
                            "type": "array",
                            "items": {"type": "string", "format": "uuid"},
                        },
                        "duplicates": {"type": "integer", "minimum": 0},
                    },
                },
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                    },
                },
            },
            "securitySchemes": {
                "secretHeader": {"type": "apiKey", "in": "header", "name": "X-Triage-Secret"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
                "levelSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Level-Signature",
                    "description": "sha256=<hex HMAC-SHA256 of the raw body with the secret>",
                },
                "svixSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "svix-signature",
                    "description": "Huntress (Svix): v1,<base64 HMAC-SHA256 of"
                    " '{svix-id}.{svix-timestamp}.{raw body}'> under the integration's"
                    " webhook_signing_secret; required when one is set",
                },
            },
        },
    }
