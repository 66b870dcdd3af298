"""The TicketsService gRPC servicer (tickets in :mod:`.tickets`, incidents in
:mod:`.incidents`)."""

from services.tickets.api.tickets import SERVICE_NAME, TicketsApi

__all__ = ["SERVICE_NAME", "TicketsApi"]
