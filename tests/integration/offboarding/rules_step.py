"""The rules service's deletion step and its rows, for the offboarding tests that race it
(the running service is the ``rules`` fixture of this directory's conftest)."""

from __future__ import annotations

from services.rules.models import outbox
from services.rules.store.tenant_data import TENANT_DATA
from tests.integration.rules.harness import Rules
from triage.runtime.offboarding import TenantOffboarding
from triage.runtime.outbox import Outbox


def offboarding(rules: Rules) -> TenantOffboarding:
    """The rules service's deletion step, as its deletion consumer runs it."""
    return TenantOffboarding(db=rules.db, outbox=Outbox(outbox), data=TENANT_DATA, service="rules")


async def rows_of(rules: Rules, tenant: str) -> dict[str, int]:
    """How many rows of ``tenant`` each rules table holds (empty: none)."""
    async with rules.db.system_transaction() as session:
        return await TENANT_DATA.remaining(session, tenant)
