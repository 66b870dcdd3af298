"""A tenant's rules and windows compiled at one version, and the cache that keeps them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.rules.domain import (
    Actions,
    CompiledRuleSet,
    CompiledWindowSet,
    MaintenanceWindow,
    RuleSet,
)
from services.rules.domain.correlation import (
    EMPTY_CORRELATION,
    CompiledCorrelationSet,
    compile_stored_correlation,
)
from services.rules.domain.received import canonical
from services.rules.domain.records import (
    RuleRecord,
    SettingsRecord,
    WindowRecord,
    window_of,
    zone_or_utc,
)
from services.rules.domain.stored import compile_stored_rule_set, compile_stored_windows
from services.rules.service.decoding import Decoder
from services.rules.store.correlation import CORRELATION_RULES
from services.rules.store.rules import RULES
from services.rules.store.settings import bind_settings, get_settings
from services.rules.store.windows import all_windows
from triage.runtime import bind_tenant, bind_tenants


@dataclass(frozen=True, slots=True)
class Compiled:
    """A tenant's rule set, windows and correlation rules compiled at one version."""

    version: int
    time_zone: str
    rules: CompiledRuleSet
    windows: CompiledWindowSet
    correlation: CompiledCorrelationSet = EMPTY_CORRELATION


def window_of_record(decoder: Decoder, record: WindowRecord, zone: str) -> MaintenanceWindow:
    """The domain window of a stored window (an empty zone takes the tenant's ``zone``)."""
    return window_of(asdict(record), decoder.scope(record.scope), zone)


def compile_stored(
    decoder: Decoder,
    tenant_id: str,
    version: int,
    zone: str,
    records: Sequence[RuleRecord],
    defaults: Actions,
) -> CompiledRuleSet:
    """Compile stored rules (validated when written; one the checks now refuse is disabled)."""
    return compile_stored_rule_set(
        RuleSet(
            tenant_id=tenant_id,
            version=version,
            time_zone=zone,
            rules=tuple(decoder.rule(r) for r in records),
            default_actions=defaults,
        )
    )


def hold_end(compiled: Compiled, window_id: str, now: datetime) -> datetime:
    """When the occurrence of ``window_id`` in force at ``now`` ends (``now`` if none is)."""
    for window, occurrence in compiled.windows.active_at(now):
        if window.window.id == window_id:
            return occurrence[1]
    return now


class RuleSetCache:
    """Compiled rule sets keyed by (tenant, version); a version check per batch invalidates."""

    def __init__(self, decoder: Decoder) -> None:
        self._decoder = decoder
        self._entries: dict[str, Compiled] = {}
        self.compilations = 0

    async def get(self, session: AsyncSession, tenant_id: str) -> Compiled:
        """The tenant's compiled rules at the version the session sees (compiled if new)."""
        memo: dict[str, Compiled] = session.info.setdefault("rules_compiled", {})
        if tenant_id in memo:
            return memo[tenant_id]
        row = await get_settings(session, tenant_id=tenant_id)
        version = 0 if row is None else int(row.rule_set_version)
        cached = self._entries.get(tenant_id)
        if cached is None or cached.version != version:
            cached = await self._compile(session, tenant_id, version, row)
            self._entries[tenant_id] = cached
        memo[tenant_id] = cached
        return cached

    async def get_many(
        self,
        session: AsyncSession,
        tenant_ids: Sequence[str],
        *,
        settings: Mapping[str, SettingsRecord] | None = None,
    ) -> dict[str, Compiled]:
        """Bind the batch's tenant set ``tenant_ids`` and :meth:`get` each tenant's rules.

        One round trip binds the set and reads every tenant's settings (none when the
        caller already bound the set and read them: ``settings``, by canonical tenant id);
        a tenant whose rules changed is compiled with only its own tenant bound (rules and
        windows are read under RLS), then the whole set is bound again.
        """
        memo: dict[str, Compiled] = session.info.setdefault("rules_compiled", {})
        missing = [t for t in dict.fromkeys(tenant_ids) if t not in memo]
        if settings is not None and not memo:
            rows: Mapping[str, SettingsRecord] = settings
        else:
            rows = await bind_settings(
                session, tenant_ids=tenant_ids, read=[canonical(t) for t in missing]
            )
        stale: list[tuple[str, int, SettingsRecord | None]] = []
        for tenant_id in missing:
            row = rows.get(canonical(tenant_id))
            version = 0 if row is None else int(row.rule_set_version)
            cached = self._entries.get(tenant_id)
            if cached is None or cached.version != version:
                stale.append((tenant_id, version, row))
            else:
                memo[tenant_id] = cached
        for tenant_id, version, row in stale:
            await bind_tenant(session, tenant_id)
            compiled = await self._compile(session, tenant_id, version, row)
            self._entries[tenant_id] = compiled
            memo[tenant_id] = compiled
        if stale:
            await bind_tenants(session, tenant_ids)
        return {t: memo[t] for t in tenant_ids}

    async def _compile(
        self, session: AsyncSession, tenant_id: str, version: int, row: SettingsRecord | None
    ) -> Compiled:
        zone = "UTC" if row is None else zone_or_utc(row.time_zone)
        defaults = self._decoder.actions(None if row is None else row.default_actions)
        rule_rows = await RULES.all(session)
        window_rows = await all_windows(session)
        correlation_rows = await CORRELATION_RULES.all(session)
        rules = compile_stored(self._decoder, tenant_id, version, zone, rule_rows, defaults)
        compiled = Compiled(
            version=version,
            time_zone=zone,
            rules=rules,
            windows=compile_stored_windows(
                [window_of_record(self._decoder, w, zone) for w in window_rows]
            ),
            correlation=compile_stored_correlation(
                [self._decoder.correlation_rule(r) for r in correlation_rows], rules.zone
            ),
        )
        self.compilations += 1
        return compiled
