from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from services.notify.domain.model import AttemptResult, ErrorClass, NotificationMessage


def test_fields_are_frozen_copies(make_message: Callable[..., NotificationMessage]) -> None:
    source = {"Ticket": "T-1"}
    message = make_message(fields=source)
    source["Ticket"] = "changed"
    assert message.fields["Ticket"] == "T-1"
    with pytest.raises(TypeError):
        message.fields["Ticket"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    "overrides",
    [
        {"severity": 0},
        {"severity": 6},
        {"priority": 9},
        {"occurred_at": datetime(2026, 1, 1)},
        {"event_id": ""},
        {"tenant_id": ""},
    ],
)
def test_invalid_messages_are_refused(
    make_message: Callable[..., NotificationMessage], overrides: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match=r"required|must be"):
        make_message(**overrides)


def test_severity_label(make_message: Callable[..., NotificationMessage]) -> None:
    assert make_message(severity=5).severity_label == "critical"
    assert make_message(severity=1).severity_label == "info"


def test_attempt_result_constructors() -> None:
    ok = AttemptResult.success(status_code=200, provider_request_id="r1", latency=0.1)
    assert ok.ok
    assert ok.error_class is None
    assert not ok.permanent
    failed = AttemptResult.failure(ErrorClass.AUTH, "401", permanent=True, status_code=401)
    assert not failed.ok
    assert failed.error_class is ErrorClass.AUTH
    assert failed.permanent
