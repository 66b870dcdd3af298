"""The sla service's use cases, one transaction each, no protos: calendars, policies, queries
on clocks, ticket events in, and timer firing; :class:`SlaService` is all of them."""

from __future__ import annotations

from services.sla.service.calendars import CalendarCases
from services.sla.service.clock_queries import ClockQueries
from services.sla.service.policies import PolicyCases
from services.sla.service.ticket_events import TicketEvents
from services.sla.service.timers import TimerFiring


class SlaService(CalendarCases, PolicyCases, ClockQueries, TicketEvents, TimerFiring):
    """Calendars, policies, ticket clocks and timer firing."""
