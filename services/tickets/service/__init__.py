"""Tickets use cases, one module per use case; :class:`TicketService` is all of them."""

from __future__ import annotations

from services.tickets.service.alerts import AlertUseCases
from services.tickets.service.comments import CommentUseCases
from services.tickets.service.escalations import EscalationUseCases
from services.tickets.service.incident_admin import IncidentAdminUseCases
from services.tickets.service.lifecycle import LifecycleUseCases
from services.tickets.service.queries import QueryUseCases
from services.tickets.service.settings import SettingsUseCases


class TicketService(
    QueryUseCases,
    LifecycleUseCases,
    CommentUseCases,
    AlertUseCases,
    EscalationUseCases,
    SettingsUseCases,
    IncidentAdminUseCases,
):
    """The tickets service's use cases (the gRPC servicer and the consumers call them)."""
