"""Errors of the notify service, each a runtime error with a stable reason."""

from __future__ import annotations

from datetime import timedelta

from triage.runtime import Aborted, AlreadyExists, FailedPrecondition, NotFound, Unavailable


class ChannelNotFound(NotFound):
    """No such channel for this tenant."""

    def __init__(self, channel_id: str) -> None:
        super().__init__(f"channel {channel_id!r} not found")


class PolicyNotFound(NotFound):
    """No such notification policy for this tenant."""

    def __init__(self, policy_id: str) -> None:
        super().__init__(f"notification policy {policy_id!r} not found")


class DeliveryNotFound(NotFound):
    """No such delivery for this tenant."""

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"delivery {delivery_id!r} not found")


class ChannelNameTaken(AlreadyExists):
    """Another channel of the tenant has the name."""

    reason = "CHANNEL_NAME_TAKEN"


class StaleEtag(Aborted):
    """The resource changed since the caller read it."""

    reason = "STALE_ETAG"

    def __init__(self) -> None:
        super().__init__("the resource changed; read it again")


class ChannelInUse(FailedPrecondition):
    """A policy still delivers to the channel."""

    reason = "CHANNEL_IN_USE"

    def __init__(self) -> None:
        super().__init__("a notification policy delivers to this channel; change it first")


class ChannelDisabled(FailedPrecondition):
    """The channel is disabled: nothing is sent to it, not even a test."""

    reason = "CHANNEL_DISABLED"

    def __init__(self, channel_id: str) -> None:
        super().__init__(f"channel {channel_id} is disabled; enable it to send")


class DeliveryNotRetryable(FailedPrecondition):
    """Only failed or dead deliveries can be retried."""

    reason = "DELIVERY_NOT_RETRYABLE"

    def __init__(self, status: str) -> None:
        super().__init__(f"delivery is {status}; only failed or dead ones can be retried")


class ChannelResting(Unavailable):
    """The channel's breaker is open: no send (not even a test) until ``retry_after``."""

    reason = "CHANNEL_BREAKER_OPEN"

    def __init__(self, message: str, *, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after
