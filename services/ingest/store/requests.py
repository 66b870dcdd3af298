"""The answered requests of ``request_id`` idempotency: the runtime's ``once`` and
``IdempotentReply`` read and record them, in the caller's transaction, through this log
over the service's ``requests`` table (so use cases never name the table)."""

from __future__ import annotations

from services.ingest import models
from triage.runtime import RequestLog

requests = RequestLog(models.requests)
