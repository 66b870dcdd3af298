"""Use cases of the rules service, one module each; each opens one transaction and stages its
events in it. :class:`RulesService` holds them over one database, outbox, clock and cache."""

from __future__ import annotations

import asyncio

from services.rules.service.clock import Clock
from services.rules.service.compiled import RuleSetCache
from services.rules.service.correlation import CorrelationUseCases
from services.rules.service.correlation_simulation import SimulatingCorrelation
from services.rules.service.decoding import Decoder
from services.rules.service.evaluation import Evaluating
from services.rules.service.reroute import WindowEndRouting
from services.rules.service.routing import Routing
from services.rules.service.rules import RuleUseCases
from services.rules.service.simulation import Simulating
from services.rules.service.tenants import TenantSettings
from services.rules.service.windows import WindowUseCases
from triage.runtime import Database, Outbox, References


class RulesService:
    """Rules and windows CRUD, routing, window-end re-routing, Evaluate and Simulate."""

    def __init__(
        self,
        *,
        db: Database,
        outbox: Outbox,
        clock: Clock,
        decoder: Decoder,
        references: References | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.cache = RuleSetCache(decoder)
        #: Set when windows or holds change, so the window-end worker looks again.
        self.windows_changed = asyncio.Event()
        self.rules = RuleUseCases(db=db, clock=clock, references=references)
        self.windows = WindowUseCases(
            db=db,
            clock=clock,
            decoder=decoder,
            references=references,
            changed=self.windows_changed,
        )
        self.routing = Routing(
            db=db, outbox=outbox, clock=clock, cache=self.cache, changed=self.windows_changed
        )
        self.window_ends = WindowEndRouting(
            db=db, outbox=outbox, clock=clock, cache=self.cache, decoder=decoder
        )
        self.evaluating = Evaluating(db=db, clock=clock, cache=self.cache, decoder=decoder)
        self.simulating = Simulating(db=db, clock=clock, cache=self.cache, decoder=decoder)
        self.tenants = TenantSettings()
        self.correlation = CorrelationUseCases(db=db, clock=clock)
        self.simulating_correlation = SimulatingCorrelation(
            db=db, clock=clock, cache=self.cache, decoder=decoder
        )
