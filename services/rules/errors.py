"""Errors of the rules service, each with a stable reason."""

from __future__ import annotations

from triage.runtime import Aborted, AlreadyExists, InvalidArgument, NotFound


class RuleNotFound(NotFound):
    """No such rule for this tenant."""

    reason = "RULE_NOT_FOUND"


class WindowNotFound(NotFound):
    """No such maintenance window for this tenant."""

    reason = "WINDOW_NOT_FOUND"


class AlertNotFound(NotFound):
    """No stored alert with that id for this tenant."""

    reason = "ALERT_NOT_FOUND"


class RuleNameTaken(AlreadyExists):
    """Another rule of the tenant has that name."""

    reason = "RULE_NAME_TAKEN"


class EtagMismatch(Aborted):
    """The resource changed since the caller read it."""

    reason = "ETAG_MISMATCH"


class RuleSetVersionMismatch(Aborted):
    """The rule set changed since the caller computed its request."""

    reason = "RULE_SET_VERSION_MISMATCH"


class RuleInvalid(InvalidArgument):
    """A rule, rule set or window is invalid; carries every field violation."""

    reason = "RULE_INVALID"


class CorrelationRuleNotFound(NotFound):
    """No such correlation rule for this tenant."""

    reason = "CORRELATION_RULE_NOT_FOUND"


class CorrelationRuleNameTaken(AlreadyExists):
    """Another correlation rule of the tenant has that name."""

    reason = "CORRELATION_RULE_NAME_TAKEN"
