"""Policy use cases: create, read, list, change and delete SLA policies; a policy's
calendar must exist and the channels its thresholds notify must be the tenant's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.domain.policy import (
    DEFAULT_PAUSE_STATUSES,
    DEFAULT_THRESHOLD_RULES,
    FirstResponse,
    PolicySpec,
    ScopeKind,
    ThresholdRule,
    threshold_channels,
)
from services.sla.domain.stored import Stored
from services.sla.domain.violation import Violation
from services.sla.errors import PolicyNotFound, ScopeTaken, SlaInvalid
from services.sla.service.base import UseCases
from services.sla.service.etags import check_version
from services.sla.store import calendars, policies
from services.sla.store.requests import requests
from triage.runtime import IdempotentReply, References, is_uuid, once, require_references

M = TypeVar("M", bound=Message)


async def check_thresholds(
    references: References | None, *, tenant_id: str, thresholds: Sequence[ThresholdRule]
) -> None:
    """NOT_FOUND unless every channel the thresholds notify is the tenant's."""
    await require_references(
        references, tenant_id=tenant_id, channels=threshold_channels(thresholds)
    )


class PolicyCases(UseCases):
    """SLA policies."""

    async def _check_policy(
        self,
        session: AsyncSession,
        tenant_id: str,
        spec: PolicySpec,
        problems: Sequence[Violation],
    ) -> None:
        bad = [*problems, *spec.validate()]
        if not any(t.first_response or t.resolution for t in spec.targets):
            # A policy without a target would start clocks that can never be due.
            bad.append(Violation("sla_policy.targets", "at least one target is required"))
        if spec.calendar_id and (
            not is_uuid(spec.calendar_id)
            or await calendars.get_calendar(
                session, tenant_id=tenant_id, calendar_id=spec.calendar_id
            )
            is None
        ):
            bad.append(Violation("sla_policy.calendar_id", "no such calendar"))
        if bad:
            raise SlaInvalid.of(bad)

    async def create_policy(
        self,
        *,
        tenant_id: str,
        spec: PolicySpec,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[PolicySpec], M],
    ) -> M:
        """Create a policy; empty thresholds and pause statuses take the defaults."""
        spec = dataclasses.replace(
            spec,
            thresholds=spec.thresholds or DEFAULT_THRESHOLD_RULES,
            pause_statuses=spec.pause_statuses or DEFAULT_PAUSE_STATUSES,
            first_response=spec.first_response or FirstResponse.PUBLIC_HUMAN_COMMENT,
            version=1,
        )

        async def work(session: AsyncSession) -> Stored[PolicySpec]:
            await self._check_policy(session, tenant_id, spec, problems)
            await check_thresholds(
                self._references, tenant_id=tenant_id, thresholds=spec.thresholds
            )
            now = self._time.now()
            try:
                await policies.insert_policy(session, tenant_id=tenant_id, spec=spec, at=now)
            except IntegrityError as exc:
                raise ScopeTaken("another policy already has this scope") from exc
            return Stored(spec, now, now)

        return await once(self._db, requests, tenant_id, answer, work)

    @staticmethod
    async def _policy(
        session: AsyncSession, tenant_id: str, policy_id: str, *, lock: bool = False
    ) -> Stored[PolicySpec]:
        found = (
            await policies.get_policy(session, tenant_id=tenant_id, policy_id=policy_id, lock=lock)
            if is_uuid(policy_id)
            else None
        )
        if found is None:
            raise PolicyNotFound(f"policy {policy_id!r} not found")
        return found

    async def get_policy(self, *, tenant_id: str, policy_id: str) -> Stored[PolicySpec]:
        """One policy; NOT_FOUND for an unknown id or another tenant's."""
        async with self._db.transaction(tenant_id) as session:
            return await self._policy(session, tenant_id, policy_id)

    async def list_policies(
        self,
        *,
        tenant_id: str,
        scope: ScopeKind,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Stored[PolicySpec]]:
        """Policies in creation order after a keyset position."""
        async with self._db.transaction(tenant_id) as session:
            return await policies.list_policies(
                session, tenant_id=tenant_id, scope=scope, after=after, limit=limit
            )

    async def update_policy(
        self,
        *,
        tenant_id: str,
        patch: PolicySpec,
        fields: Iterable[str],
        etag: str,
        problems: Sequence[Violation],
        answer: IdempotentReply[Stored[PolicySpec], M],
    ) -> M:
        """Change the named fields; running clocks keep their snapshot."""
        names = set(fields)

        async def work(session: AsyncSession) -> Stored[PolicySpec]:
            if "thresholds" in names:  # asked before any row is locked
                await check_thresholds(
                    self._references, tenant_id=tenant_id, thresholds=patch.thresholds
                )
            current = await self._policy(session, tenant_id, patch.id, lock=True)
            check_version(etag, current.value.version)
            changed = dataclasses.replace(
                current.value,
                **{n: getattr(patch, n) for n in names},
                version=current.value.version + 1,
            )
            await self._check_policy(session, tenant_id, changed, problems)
            now = self._time.now()
            try:
                await policies.replace_policy(session, tenant_id=tenant_id, spec=changed, at=now)
            except IntegrityError as exc:
                raise ScopeTaken("another policy already has this scope") from exc
            return Stored(changed, current.created_at, now)

        return await once(self._db, requests, tenant_id, answer, work)

    async def delete_policy(
        self, *, tenant_id: str, policy_id: str, etag: str, answer: IdempotentReply[None, M]
    ) -> M:
        """Delete a policy; running clocks keep their snapshot."""

        async def work(session: AsyncSession) -> None:
            current = await self._policy(session, tenant_id, policy_id, lock=True)
            check_version(etag, current.value.version)
            await policies.delete_policy(session, tenant_id=tenant_id, policy_id=policy_id)

        return await once(self._db, requests, tenant_id, answer, work)
