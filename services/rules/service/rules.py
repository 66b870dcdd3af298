"""Rules CRUD: create, read, list, update, delete and reorder a tenant's routing rules (the
ordered-rules flow of ``service.ordered``), checking the integrations and channels a rule
names against their services."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from services.rules.domain import Rule
from services.rules.domain.drafts import RuleDraft
from services.rules.domain.records import RuleRecord
from services.rules.domain.views import Reordered, RulePage
from services.rules.errors import RuleNameTaken, RuleNotFound
from services.rules.service.clock import Clock
from services.rules.service.ordered import OrderedRules, RuleKind
from services.rules.service.references import check_rule
from services.rules.store.rules import RULES
from triage.runtime import Database, IdempotentReply, References

M = TypeVar("M", bound=Message)

ROUTING_RULES = RuleKind(
    rows=RULES,
    field="rule",
    name_taken=RuleNameTaken,
    not_found=RuleNotFound,
    token_filters={},
)


class RuleUseCases:
    """A tenant's ordered rules; every change bumps the tenant's rule-set version."""

    def __init__(self, *, db: Database, clock: Clock, references: References | None) -> None:
        self.references = references
        self._rules: OrderedRules[RuleRecord, RuleDraft] = OrderedRules(
            db=db, clock=clock, kind=ROUTING_RULES
        )

    async def create(
        self,
        *,
        tenant_id: str,
        draft: RuleDraft,
        position: int | None,
        reply: IdempotentReply[RuleRecord, M],
    ) -> M:
        """Validate and insert a rule at ``position`` (appended when None)."""

        async def check() -> None:
            await check_rule(self.references, tenant_id=tenant_id, rule=draft.rule)

        return await self._rules.create(
            tenant_id=tenant_id, draft=draft, position=position, reply=reply, check=check
        )

    async def get(self, *, tenant_id: str, rule_id: str) -> RuleRecord:
        """One rule of the tenant."""
        return await self._rules.get(tenant_id=tenant_id, rule_id=rule_id)

    async def page(
        self, *, tenant_id: str, size: int, page_token: str, show_disabled: bool
    ) -> RulePage[RuleRecord]:
        """One page of the tenant's rules in evaluation order."""
        return await self._rules.page(
            tenant_id=tenant_id, size=size, page_token=page_token, show_disabled=show_disabled
        )

    async def update(
        self,
        *,
        tenant_id: str,
        rule_id: str,
        given_etag: str,
        named: Rule,
        paths: Collection[str],
        patch: Callable[[RuleRecord], RuleDraft],
        reply: IdempotentReply[RuleRecord, M],
    ) -> M:
        """Change a rule by ``patch`` (the masked ``paths`` of the request, which names
        ``named``'s integrations and channels), checking its etag."""

        async def check() -> None:
            await check_rule(self.references, tenant_id=tenant_id, rule=named, paths=paths)

        return await self._rules.update(
            tenant_id=tenant_id,
            rule_id=rule_id,
            given_etag=given_etag,
            patch=patch,
            reply=reply,
            check=check,
        )

    async def delete(
        self, *, tenant_id: str, rule_id: str, given_etag: str, reply: IdempotentReply[int, M]
    ) -> M:
        """Delete a rule (later rules move up); answers with the new rule-set version."""
        return await self._rules.delete(
            tenant_id=tenant_id, rule_id=rule_id, given_etag=given_etag, reply=reply
        )

    async def reorder(
        self,
        *,
        tenant_id: str,
        rule_ids: Sequence[str],
        expected_version: int,
        reply: IdempotentReply[Reordered[RuleRecord], M],
    ) -> M:
        """Set the complete evaluation order."""
        return await self._rules.reorder(
            tenant_id=tenant_id, rule_ids=rule_ids, expected_version=expected_version, reply=reply
        )
