"""Which RPC each ``triage`` command calls: the table the CLI-completeness test checks.

Every RPC of every service must have a command here (``tests/unit/cli/test_completeness.py``
walks the generated descriptors and names any RPC without one). A command module may also
declare its own commands in a module-level ``RPCS`` dict of the same shape; both are merged.
Keys are command paths as typed (``"tickets create"``), values the full names of the RPCs
the command calls (``package.Service.Method``), the main one first.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

_TENANT = "triage.ingest.v1.TenantService."
_INGEST = "triage.ingest.v1.IngestService."
_RULES = "triage.rules.v1.RulesService."
_TICKETS = "triage.tickets.v1.TicketsService."
_SLA = "triage.sla.v1.SlaService."
_NOTIFY = "triage.notify.v1.NotifyService."


def _of(prefix: str, *methods: str) -> tuple[str, ...]:
    return tuple(prefix + m for m in methods)


COMMAND_RPCS: dict[str, tuple[str, ...]] = {
    "tenants create": _of(_TENANT, "CreateTenant"),
    "tenants list": _of(_TENANT, "ListTenants"),
    "tenants show": _of(_TENANT, "GetTenant"),
    "tenants update": _of(_TENANT, "UpdateTenant", "GetTenant"),
    "tokens issue": _of(_TENANT, "IssueToken"),
    "integrations create": _of(_INGEST, "CreateIntegration"),
    "integrations list": _of(_INGEST, "ListIntegrations"),
    "integrations show": _of(_INGEST, "GetIntegration"),
    "integrations update": _of(_INGEST, "UpdateIntegration", "GetIntegration"),
    "integrations rotate-secret": _of(_INGEST, "RotateIntegrationSecret"),
    "integrations delete": _of(_INGEST, "DeleteIntegration"),
    "alerts list": _of(_INGEST, "ListAlertEvents"),
    "alerts show": _of(_INGEST, "GetAlertEvent"),
    "alerts ingest": _of(_INGEST, "IngestAlerts"),
    "rules create": _of(_RULES, "CreateRule"),
    "rules list": _of(_RULES, "ListRules"),
    "rules show": _of(_RULES, "GetRule"),
    "rules update": _of(_RULES, "UpdateRule", "GetRule"),
    "rules delete": _of(_RULES, "DeleteRule"),
    "rules reorder": _of(_RULES, "ReorderRules"),
    "rules evaluate": _of(_RULES, "EvaluateAlert"),
    "rules decision": _of(_RULES, "GetAlertDecision"),
    "rules simulate": _of(_RULES, "SimulateRules"),
    "windows create": _of(_RULES, "CreateMaintenanceWindow"),
    "windows list": _of(_RULES, "ListMaintenanceWindows"),
    "windows show": _of(_RULES, "GetMaintenanceWindow"),
    "windows update": _of(_RULES, "UpdateMaintenanceWindow", "GetMaintenanceWindow"),
    "windows end": _of(_RULES, "EndMaintenanceWindow"),
    "windows delete": _of(_RULES, "DeleteMaintenanceWindow"),
    "tickets create": _of(_TICKETS, "CreateTicket"),
    "tickets list": _of(_TICKETS, "ListTickets"),
    "tickets show": _of(
        _TICKETS, "GetTicket", "ListComments", "ListTicketHistory", "ListTimeEntries"
    ),
    "tickets update": _of(_TICKETS, "UpdateTicket", "GetTicket"),
    "tickets comment": _of(_TICKETS, "AddComment"),
    "tickets log-time": _of(_TICKETS, "AddTimeEntry"),
    "tickets close": _of(_TICKETS, "CloseTicket"),
    "tickets reopen": _of(_TICKETS, "ReopenTicket"),
    "calendars create": _of(_SLA, "CreateCalendar"),
    "calendars update": _of(_SLA, "UpdateCalendar", "GetCalendar"),
    "calendars list": _of(_SLA, "ListCalendars"),
    "calendars show": _of(_SLA, "GetCalendar"),
    "calendars delete": _of(_SLA, "DeleteCalendar"),
    "calendars add-holiday": _of(_SLA, "AddHoliday"),
    "calendars remove-holiday": _of(_SLA, "RemoveHoliday"),
    "policies create": _of(_SLA, "CreateSlaPolicy"),
    "policies update": _of(_SLA, "UpdateSlaPolicy", "GetSlaPolicy"),
    "policies list": _of(_SLA, "ListSlaPolicies"),
    "policies show": _of(_SLA, "GetSlaPolicy"),
    "policies delete": _of(_SLA, "DeleteSlaPolicy"),
    "sla show": _of(_SLA, "GetTicketSla"),
    "sla show-many": _of(_SLA, "BatchGetTicketSla"),
    "sla breaches": _of(_SLA, "ListBreaches"),
    "sla audit": _of(_SLA, "ListTicketSlaAudit"),
    "channels create": _of(_NOTIFY, "CreateChannel"),
    "channels list": _of(_NOTIFY, "ListChannels"),
    "channels show": _of(_NOTIFY, "GetChannel"),
    "channels update": _of(_NOTIFY, "UpdateChannel", "GetChannel"),
    "channels delete": _of(_NOTIFY, "DeleteChannel"),
    "channels test": _of(_NOTIFY, "SendTestNotification"),
    "channels preview": _of(_NOTIFY, "PreviewChannelMessage"),
    "notify-policies create": _of(_NOTIFY, "CreateNotificationPolicy"),
    "notify-policies list": _of(_NOTIFY, "ListNotificationPolicies"),
    "notify-policies show": _of(_NOTIFY, "GetNotificationPolicy"),
    "notify-policies update": _of(_NOTIFY, "UpdateNotificationPolicy", "GetNotificationPolicy"),
    "notify-policies delete": _of(_NOTIFY, "DeleteNotificationPolicy"),
    "deliveries list": _of(_NOTIFY, "ListDeliveries"),
    "deliveries show": _of(_NOTIFY, "GetDelivery"),
    "deliveries retry": _of(_NOTIFY, "RetryDelivery"),
}


def declared(module_names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The table above merged with every command module's own ``RPCS`` declarations."""
    table = dict(COMMAND_RPCS)
    for name in module_names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        extra: Mapping[str, tuple[str, ...]] = getattr(module, "RPCS", {})
        for command, rpcs in extra.items():
            table[command] = table.get(command, ()) + tuple(
                r for r in rpcs if r not in table.get(command, ())
            )
    return table


def leaf_commands(parser: argparse.ArgumentParser) -> dict[str, Callable[..., Any] | None]:
    """Every runnable command of ``parser`` by its path (``"tickets create"``), with the
    handler it runs (set on the command or inherited from its group)."""
    found: dict[str, Callable[..., Any] | None] = {}

    def walk(
        node: argparse.ArgumentParser, path: tuple[str, ...], handler: Callable[..., Any] | None
    ) -> None:
        handler = node.get_default("handler") or handler
        groups = [a for a in node._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups and path:
            found[" ".join(path)] = handler
        for group in groups:
            for name, child in group.choices.items():
                walk(child, (*path, name), handler)

    walk(parser, (), None)
    return found
