"""A rule editor form <-> a Rule message, and API field violations -> form fields (pure)."""

from __future__ import annotations

from triage.ingest.v1 import resources_pb2 as ingest_res
from triage.rules.v1 import resources_pb2 as rules_res
from triage.tickets.v1 import resources_pb2 as tickets_res

#: Form field -> the update_mask path it changes.
MASK = {
    "display_name": "display_name",
    "description": "description",
    "disabled": "disabled",
    "providers": "conditions",
    "clients": "conditions",
    "device_globs": "conditions",
    "min_severity": "conditions",
    "kinds": "conditions",
    "keywords": "conditions",
    "message_regex": "conditions",
    "ticket_action": "actions",
    "priority_override": "actions",
    "queue": "actions",
    "assignee": "actions",
    "title_template": "actions",
    "close_on_reset": "actions",
    "reset_in_rmm_on_close": "actions",
}
_FIELD_ALIASES = {"priority": "priority_override"}


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _enum(enum_type: object, prefix: str, text: str) -> int:
    try:
        return int(enum_type.Value(prefix + text.upper()))  # type: ignore[attr-defined]
    except ValueError:
        return 0


def rule_from_form(
    fields: dict[str, list[str]], *, base: rules_res.Rule | None = None
) -> tuple[rules_res.Rule, list[str]]:
    """The edited rule (``base`` with the form's values over it) and the mask paths the
    form covers. Conditions and actions are replaced whole, keeping parts the form does
    not show (label matchers, time conditions, severity map, notifications)."""
    one = {k: v[-1].strip() for k, v in fields.items() if v}
    rule = rules_res.Rule()
    if base is not None:
        rule.CopyFrom(base)
    rule.display_name = one.get("display_name", "")
    rule.description = one.get("description", "")
    rule.disabled = "disabled" in fields
    c = rule.conditions
    del c.providers[:], c.clients[:], c.device_globs[:], c.kinds[:], c.keywords[:]
    providers = [_enum(ingest_res.Provider, "PROVIDER_", p) for p in fields.get("providers", [])]
    kinds = [_enum(ingest_res.AlertKind, "ALERT_KIND_", k) for k in fields.get("kinds", [])]
    c.providers.extend(ingest_res.Provider.ValueType(v) for v in providers if v)
    c.kinds.extend(ingest_res.AlertKind.ValueType(v) for v in kinds if v)
    c.clients.extend(_csv(one.get("clients", "")))
    c.device_globs.extend(_csv(one.get("device_globs", "")))
    c.keywords.extend(_csv(one.get("keywords", "")))
    c.min_severity = _enum(ingest_res.Severity, "SEVERITY_", one.get("min_severity", ""))  # type: ignore[assignment]
    c.message_regex = one.get("message_regex", "")
    a = rule.actions
    a.ticket_action = _enum(  # type: ignore[assignment]
        rules_res.TicketAction, "TICKET_ACTION_", one.get("ticket_action", "create_ticket")
    )
    a.priority_override = _enum(tickets_res.Priority, "PRIORITY_", one.get("priority_override", ""))  # type: ignore[assignment]
    a.queue = one.get("queue", "")
    a.assignee = one.get("assignee", "")
    a.title_template = one.get("title_template", "")
    a.close_on_reset = "close_on_reset" in fields
    a.reset_in_rmm_on_close = "reset_in_rmm_on_close" in fields
    return rule, sorted(set(MASK.values()))


def field_errors(violations: dict[str, str]) -> dict[str, str]:
    """API field paths (``rule.conditions.message_regex``) as the form's field names
    (``message_regex``); anything unplaceable goes under ``_``."""
    out: dict[str, str] = {}
    for path, text in violations.items():
        leaf = path.split(".")[-1].split("[")[0]
        leaf = _FIELD_ALIASES.get(leaf, leaf)
        key = leaf if leaf in MASK else "_"
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out


def moved(ids: list[str], rule_id: str, direction: str) -> list[str]:
    """``ids`` with ``rule_id`` swapped one place up or down (unchanged at the ends)."""
    order = list(ids)
    if rule_id not in order:
        return order
    i = order.index(rule_id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return order
