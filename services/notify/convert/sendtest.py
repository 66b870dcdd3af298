"""A test send's outcome as its response, and the status of a resting channel."""

from __future__ import annotations

import math
from datetime import timedelta

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from services.notify.convert.deliveries import error_class_enum
from services.notify.domain.model import AttemptResult
from services.notify.domain.records import TestOutcome
from services.notify.errors import ChannelResting
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import ERROR_DOMAIN


def resting_status(error: ChannelResting) -> status_pb2.Status:
    """UNAVAILABLE with ErrorInfo and google.rpc.RetryInfo (when to try again)."""
    info, retry = any_pb2.Any(), any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN))
    delay = duration_pb2.Duration()
    delay.FromTimedelta(error.retry_after)
    retry.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status_pb2.Status(
        code=code_pb2.UNAVAILABLE, message=error.message, details=[info, retry]
    )


def retry_after_note(result: AttemptResult) -> str:
    """The receiver's Retry-After as text for the error message ("" when none)."""
    if result.ok or result.retry_after is None:
        return ""
    return f" (the receiver asked to retry after {math.ceil(result.retry_after)} s)"


def _latency(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(timedelta(seconds=seconds))
    return out


def sent_test_response(outcome: TestOutcome) -> api.SendTestNotificationResponse:
    """The response to SendTestNotification for what the send returned."""
    result = outcome.result
    error_class = None
    if not result.ok and result.error_class is not None:
        code = result.status_code or 0
        error_class = result.error_class.value
        if error_class == "invalid_config" and 400 <= code < 500:
            error_class = "rejected"
    return api.SendTestNotificationResponse(
        status=pb.DELIVERY_STATUS_DELIVERED if result.ok else pb.DELIVERY_STATUS_FAILED,
        latency=_latency(outcome.latency),
        error_class=error_class_enum(error_class),  # type: ignore[arg-type]
        error_message="" if result.ok else (result.error or "") + retry_after_note(result),
        response_code=result.status_code or 0,
        provider_request_id=result.provider_request_id or "",
    )
