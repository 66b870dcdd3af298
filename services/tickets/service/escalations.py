"""SLA escalations: priority, queue and assignee changes through the update path."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.tickets.domain.tickets import SLA_ACTOR, Cause, Escalation, escalated_priority
from services.tickets.service.changes import ChangePaths
from services.tickets.store import tickets as ticket_store
from triage.runtime import is_uuid


class EscalationUseCases(ChangePaths):
    """The SLA consumer's use case (inside its batch transaction)."""

    async def on_escalation(
        self, session: AsyncSession, tenant_id: str, escalation: Escalation
    ) -> None:
        """Apply SLA escalation actions through the update path (never a human touch)."""
        if escalation.is_empty or not is_uuid(escalation.ticket_id):
            return
        ticket = await ticket_store.get_ticket(
            session, tenant_id=tenant_id, ticket_id=escalation.ticket_id, for_update=True
        )
        if ticket is None or not ticket.is_open:
            return
        fields: dict[str, Any] = {
            "priority": escalated_priority(
                ticket.priority, target=escalation.priority, raise_levels=escalation.raise_levels
            )
        }
        if escalation.queue:
            fields["queue"] = escalation.queue
        if escalation.assignee:
            fields["assignee"] = escalation.assignee
        await self._update(
            session,
            ticket,
            fields,
            Cause.SLA_ESCALATION,
            SLA_ACTOR,
            detail=escalation.label,
        )
