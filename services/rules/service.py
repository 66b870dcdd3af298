"""Use cases of the rules service; each opens one transaction and stages its events in it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from psycopg.rows import namedtuple_row
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncSession

from services.rules import convert, store
from services.rules.clock import Clock
from services.rules.domain import (
    Actions,
    CompiledRuleSet,
    CompiledWindowSet,
    Decision,
    Rule,
    RuleSet,
    RuleValidationError,
    Violation,
    compile_rule_set,
    compile_windows,
    decide,
    simulate,
    validate_rule,
    validate_window,
)
from services.rules.domain.stored import compile_stored_rule_set, compile_stored_windows
from services.rules.errors import (
    AlertNotFound,
    EtagMismatch,
    RuleInvalid,
    RuleNameTaken,
    RuleNotFound,
    RuleSetVersionMismatch,
    WindowNotFound,
)
from services.rules.models import requests
from services.rules.references import check_rule, check_window
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import events_pb2, resources_pb2, rules_service_pb2
from triage.runtime import (
    Database,
    Inbox,
    InvalidArgument,
    Outbox,
    References,
    after_commit,
    bind_tenant,
    bind_tenants,
    built_reply,
    from_timestamp,
    new_envelope,
    once,
    paging,
    pipelined,
)
from triage.runtime import FieldViolation as RpcViolation

log = logging.getLogger(__name__)

PRODUCER = "rules"
ROUTED = "alert.routed"
MAX_SIMULATED_ALERTS = 100_000
_RULE_MUTABLE = {
    "display_name",
    "description",
    "disabled",
    "scope_integration_ids",
    "conditions",
    "actions",
}
_WINDOW_MUTABLE = {
    "display_name",
    "description",
    "one_off",
    "recurring",
    "scope",
    "end_override_time",
}


@dataclass(frozen=True, slots=True)
class Compiled:
    """A tenant's rule set and windows compiled at one version."""

    version: int
    time_zone: str
    rules: CompiledRuleSet
    windows: CompiledWindowSet


def _invalid(violations: Sequence[Violation], path: Callable[[str], str]) -> RuleInvalid:
    mapped = [RpcViolation(path(v.field_path), v.message) for v in violations]
    return RuleInvalid("; ".join(f"{v.field}: {v.description}" for v in mapped), violations=mapped)


def _check_etag(given: str, version: int) -> None:
    if given and given != convert.etag(version):
        raise EtagMismatch("the resource changed since it was read; read it again")


def _mask_paths(mask: field_mask_pb2.FieldMask, allowed: set[str], default: set[str]) -> set[str]:
    paths = set(mask.paths) or default
    bad = [p for p in paths if p.split(".", 1)[0] not in allowed]
    if bad:
        raise InvalidArgument.field("update_mask", f"cannot update {sorted(bad)}")
    return paths


def _merge(source: Message, target: Message, paths: set[str]) -> None:
    mask = field_mask_pb2.FieldMask(paths=sorted(paths))
    if not mask.IsValidForDescriptor(target.DESCRIPTOR):  # type: ignore[arg-type]
        raise InvalidArgument.field("update_mask", f"unknown field in {sorted(paths)}")
    mask.MergeMessage(source, target, replace_message_field=True, replace_repeated_field=True)


class RuleSetCache:
    """Compiled rule sets keyed by (tenant, version); a version check per batch invalidates."""

    def __init__(self) -> None:
        self._entries: dict[str, Compiled] = {}
        self.compilations = 0

    async def get(self, session: AsyncSession, tenant_id: str) -> Compiled:
        """The tenant's compiled rules at the version the session sees (compiled if new)."""
        memo: dict[str, Compiled] = session.info.setdefault("rules_compiled", {})
        if tenant_id in memo:
            return memo[tenant_id]
        row = await store.get_settings(session, tenant_id=tenant_id)
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
        settings: Mapping[str, Any] | None = None,
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
            rows: Mapping[str, Any] = settings
        else:
            rows = await store.bind_settings(
                session, tenant_ids=tenant_ids, read=[canonical(t) for t in missing]
            )
        stale: list[tuple[str, int, Any]] = []
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
        self, session: AsyncSession, tenant_id: str, version: int, row: Any
    ) -> Compiled:
        zone = "UTC" if row is None else convert.zone_or_utc(row.time_zone)
        defaults = convert.actions(
            convert.from_json(None if row is None else row.default_actions, resources_pb2.Actions())
        )
        rule_rows = await store.all_rules(session)
        window_rows = await store.all_windows(session)
        compiled = Compiled(
            version=version,
            time_zone=zone,
            rules=compile_stored(tenant_id, version, zone, rule_rows, defaults),
            windows=compile_stored_windows(
                [convert.window_from_values(w._mapping, zone) for w in window_rows]
            ),
        )
        self.compilations += 1
        return compiled


def compile_stored(
    tenant_id: str, version: int, zone: str, rows: Sequence[Any], defaults: Actions
) -> CompiledRuleSet:
    """Compile stored rule rows (validated when written; one the checks now refuse is disabled)."""
    domain_rules = []
    for r in rows:
        violations: list[Violation] = []
        message = convert.rule_from_row(r)
        domain_rules.append(convert.rule(message, violations))
    return compile_stored_rule_set(
        RuleSet(
            tenant_id=tenant_id,
            version=version,
            time_zone=zone,
            rules=tuple(domain_rules),
            default_actions=defaults,
        )
    )


def window_state(compiled: Any, at: datetime) -> tuple[int, datetime | None, datetime | None]:
    """(state, next start, current end) of a compiled window at ``at``."""
    occurrence = compiled.occurrence_at(at)
    if occurrence is not None:
        return resources_pb2.MAINTENANCE_WINDOW_STATE_ACTIVE, None, occurrence[1]
    _, valid_until, _ = compiled.state(at, at.timestamp())
    if valid_until == float("inf"):
        return resources_pb2.MAINTENANCE_WINDOW_STATE_ENDED, None, None
    return (
        resources_pb2.MAINTENANCE_WINDOW_STATE_SCHEDULED,
        datetime.fromtimestamp(valid_until, tz=at.tzinfo),
        None,
    )


def routed_envelope(
    alert: ingest_pb.AlertEvent, decision: resources_pb2.Decision, cause: int, at: datetime
) -> Any:
    """The ``alert.routed`` envelope of one decision."""
    return new_envelope(
        tenant_id=alert.tenant_id,
        event_type=ROUTED,
        payload=events_pb2.AlertRouted(
            alert=alert,
            decision=decision,
            rule_set_version=decision.rule_set_version,
            cause=cause,  # type: ignore[arg-type]
        ),
        producer=PRODUCER,
        ordering_key=alert.series_key,
        occurred_at=at,
    )


class RulesService:
    """Rules and windows CRUD, routing, window-end re-routing, Evaluate and Simulate."""

    def __init__(
        self, *, db: Database, outbox: Outbox, clock: Clock, references: References | None = None
    ) -> None:
        self.db = db
        self.references = references
        self.outbox = outbox
        self.clock = clock
        self.cache = RuleSetCache()
        self.windows_changed = asyncio.Event()

    # ---- rules -------------------------------------------------------------------------

    def _validate_rule(self, message: resources_pb2.Rule, prefix: str) -> None:
        violations: list[Violation] = []
        if not message.display_name:
            violations.append(Violation("name", "must not be empty"))
        domain = convert.rule(message, violations)
        violations.extend(v for v in validate_rule(domain) if v.field_path != "name")
        if violations:
            raise _invalid(violations, lambda p: prefix + convert.rule_path(p))

    async def create_rule(
        self,
        *,
        tenant_id: str,
        rule: resources_pb2.Rule,
        position: int | None,
        request_id: str,
    ) -> resources_pb2.Rule:
        """Validate and insert a rule at ``position`` (appended when None)."""
        self._validate_rule(rule, "rule.")
        if position is not None and position < 0:
            raise InvalidArgument.field("position", "must not be negative")

        async def work(session: AsyncSession) -> rules_service_pb2.CreateRuleResponse:
            # Checked only when not a replay, so a retry still gets its first answer.
            await check_rule(self.references, tenant_id=tenant_id, rule=rule)
            _, version = await store.bump_version(session, tenant_id=tenant_id)
            if await store.rule_named(session, name=rule.display_name):
                raise RuleNameTaken(f"a rule named {rule.display_name!r} exists")
            count = await store.count_rules(session)
            at = count if position is None else min(position, count)
            await store.shift_positions(session, from_position=at, by=1)
            row = await store.insert_rule(
                session,
                {
                    "id": str(uuid.uuid4()),
                    "tenant_id": tenant_id,
                    "name": rule.display_name,
                    "description": rule.description,
                    "position": at,
                    "enabled": not rule.disabled,
                    "scope_integration_ids": list(rule.scope_integration_ids),
                    "conditions": convert.to_json(rule.conditions),
                    "actions": convert.to_json(rule.actions),
                    "rule_set_version": version,
                },
            )
            return rules_service_pb2.CreateRuleResponse(rule=convert.rule_from_row(row))

        reply = built_reply("CreateRule", request_id, rules_service_pb2.CreateRuleResponse)
        return (await once(self.db, requests, tenant_id, reply, work)).rule

    async def get_rule(self, *, tenant_id: str, rule_id: str) -> resources_pb2.Rule:
        """One rule of the tenant."""
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_rule(session, rule_id=_uuid(rule_id, "rule_id"))
        if row is None:
            raise RuleNotFound(f"rule {rule_id} not found")
        return convert.rule_from_row(row)

    async def list_rules(
        self, *, tenant_id: str, page_size: int, page_token: str, show_disabled: bool
    ) -> rules_service_pb2.ListRulesResponse:
        """One page of the tenant's rules in evaluation order."""
        size = paging.page_size(page_size)
        filters = {"show_disabled": show_disabled}
        position = paging.decode_page_token(page_token, filters=filters)
        after = None if position is None else (int(position["p"]), str(position["id"]))
        async with self.db.transaction(tenant_id) as session:
            rows = await store.list_rules(
                session, after=after, limit=size + 1, show_disabled=show_disabled
            )
            version = await store.rule_set_version(session, tenant_id=tenant_id)
        response = rules_service_pb2.ListRulesResponse(
            rules=[convert.rule_from_row(r) for r in rows[:size]], rule_set_version=version
        )
        if len(rows) > size:
            last = rows[size - 1]
            response.next_page_token = paging.encode_page_token(
                {"p": last.position, "id": last.id}, filters=filters
            )
        return response

    async def update_rule(
        self,
        *,
        tenant_id: str,
        rule: resources_pb2.Rule,
        mask: field_mask_pb2.FieldMask,
        request_id: str,
    ) -> resources_pb2.Rule:
        """Change the masked fields of a rule, checking its etag."""
        rule_id = _uuid(rule.id, "rule.id")
        paths = _mask_paths(mask, _RULE_MUTABLE, _RULE_MUTABLE)

        async def work(session: AsyncSession) -> rules_service_pb2.UpdateRuleResponse:
            await check_rule(self.references, tenant_id=tenant_id, rule=rule, paths=paths)
            _, version = await store.bump_version(session, tenant_id=tenant_id)
            row = await store.get_rule(session, rule_id=rule_id, for_update=True)
            if row is None:
                raise RuleNotFound(f"rule {rule.id} not found")
            _check_etag(rule.etag, row.version)
            merged = convert.rule_from_row(row)
            _merge(rule, merged, paths)
            self._validate_rule(merged, "rule.")
            if merged.display_name != row.name:
                other = await store.rule_named(session, name=merged.display_name)
                if other is not None and other != rule_id:
                    raise RuleNameTaken(f"a rule named {merged.display_name!r} exists")
            updated = await store.update_rule(
                session,
                rule_id=rule_id,
                values={
                    "name": merged.display_name,
                    "description": merged.description,
                    "enabled": not merged.disabled,
                    "scope_integration_ids": list(merged.scope_integration_ids),
                    "conditions": convert.to_json(merged.conditions),
                    "actions": convert.to_json(merged.actions),
                    "version": row.version + 1,
                    "rule_set_version": version,
                    "updated_at": self.clock.now(),
                },
            )
            return rules_service_pb2.UpdateRuleResponse(rule=convert.rule_from_row(updated))

        reply = built_reply("UpdateRule", request_id, rules_service_pb2.UpdateRuleResponse)
        return (await once(self.db, requests, tenant_id, reply, work)).rule

    async def delete_rule(self, *, tenant_id: str, rule_id: str, etag: str, request_id: str) -> int:
        """Delete a rule (later rules move up); returns the new rule-set version."""
        rid = _uuid(rule_id, "rule_id")

        async def work(session: AsyncSession) -> rules_service_pb2.DeleteRuleResponse:
            _, version = await store.bump_version(session, tenant_id=tenant_id)
            row = await store.get_rule(session, rule_id=rid, for_update=True)
            if row is None:
                raise RuleNotFound(f"rule {rule_id} not found")
            _check_etag(etag, row.version)
            await store.delete_rule(session, rule_id=rid)
            await store.shift_positions(session, from_position=row.position + 1, by=-1)
            return rules_service_pb2.DeleteRuleResponse(rule_set_version=version)

        reply = built_reply("DeleteRule", request_id, rules_service_pb2.DeleteRuleResponse)
        return (await once(self.db, requests, tenant_id, reply, work)).rule_set_version

    async def reorder_rules(
        self, *, tenant_id: str, rule_ids: Sequence[str], expected_version: int, request_id: str
    ) -> rules_service_pb2.ReorderRulesResponse:
        """Set the complete evaluation order."""

        async def work(session: AsyncSession) -> rules_service_pb2.ReorderRulesResponse:
            before, version = await store.bump_version(session, tenant_id=tenant_id)
            if expected_version and expected_version != before:
                raise RuleSetVersionMismatch(
                    f"rule set is at version {before}, not {expected_version}"
                )
            rows = await store.all_rules(session)
            current = {r.id for r in rows}
            if len(rule_ids) != len(set(rule_ids)) or set(rule_ids) != current:
                raise InvalidArgument.field(
                    "rule_ids", "must list every rule of the tenant exactly once"
                )
            await store.shift_positions(session, from_position=0, by=len(rows))
            now = self.clock.now()
            before_rows = {r.id: r for r in rows}
            updated = []
            for index, rid in enumerate(rule_ids):
                row = before_rows[rid]
                values: dict[str, Any] = {"position": index}
                if row.position != index:
                    values.update(version=row.version + 1, rule_set_version=version, updated_at=now)
                updated.append(await store.update_rule(session, rule_id=rid, values=values))
            return rules_service_pb2.ReorderRulesResponse(
                rules=[convert.rule_from_row(r) for r in updated], rule_set_version=version
            )

        reply = built_reply("ReorderRules", request_id, rules_service_pb2.ReorderRulesResponse)
        return await once(self.db, requests, tenant_id, reply, work)

    # ---- windows -----------------------------------------------------------------------

    async def _tenant_zone(self, session: AsyncSession, tenant_id: str) -> str:
        row = await store.get_settings(session, tenant_id=tenant_id)
        return "UTC" if row is None else convert.zone_or_utc(row.time_zone)

    def _window_values(
        self, message: resources_pb2.MaintenanceWindow, zone: str, base: dict[str, Any]
    ) -> dict[str, Any]:
        """Validated column values of a window (``base`` holds the stored row's values)."""
        values = {**base, **convert.window_values(message)}
        recurring = message.WhichOneof("schedule") == "recurring"
        violations: list[Violation] = []
        if message.WhichOneof("schedule") is None:
            violations.append(Violation("schedule", "one_off or recurring is required"))
        if not message.display_name:
            violations.append(Violation("name", "must not be empty"))
        override = (
            from_timestamp(message.end_override_time)
            if message.HasField("end_override_time")
            else None
        )
        values["end_override_at"] = override
        values["ended_early_at"] = base.get("ended_early_at")
        values["extended_until"] = None
        if not violations:
            domain = convert.window_from_values({"id": "w", **values}, zone)
            found = validate_window(domain)
            violations.extend(found)
            if not found and override is not None:
                natural = convert.window_from_values(
                    {"id": "w", **values, "ended_early_at": None}, zone
                )
                end = natural.next_end_after(self.clock.now())
                if end is not None and override > end:
                    values["extended_until"] = override
                else:
                    values["ended_early_at"] = override
        if violations:
            raise _invalid(
                violations,
                lambda p: "maintenance_window." + convert.window_path(p, recurring=recurring),
            )
        return values

    def _window_proto(self, row: Any, zone: str) -> resources_pb2.MaintenanceWindow:
        # A stored window the tightened checks refuse still reads back (never in force).
        window = convert.window_from_values(row._mapping, zone)
        compiled = compile_stored_windows([window]).windows[0]
        return convert.window_to_proto(row, window_state(compiled, self.clock.now()))  # type: ignore[no-any-return]

    def _changed_windows(self, session: AsyncSession) -> None:
        after_commit(session, self.windows_changed.set)

    async def create_window(
        self,
        *,
        tenant_id: str,
        window: resources_pb2.MaintenanceWindow,
        creator: str,
        request_id: str,
    ) -> resources_pb2.MaintenanceWindow:
        """Validate and store a maintenance window."""

        async def work(session: AsyncSession) -> rules_service_pb2.CreateMaintenanceWindowResponse:
            await check_window(self.references, tenant_id=tenant_id, window=window)
            zone = await self._tenant_zone(session, tenant_id)
            values = self._window_values(window, zone, {})
            _, version = await store.bump_version(session, tenant_id=tenant_id)
            row = await store.insert_window(
                session,
                {
                    **values,
                    "id": str(uuid.uuid4()),
                    "tenant_id": tenant_id,
                    "creator": creator,
                    "rule_set_version": version,
                },
            )
            self._changed_windows(session)
            return rules_service_pb2.CreateMaintenanceWindowResponse(
                maintenance_window=self._window_proto(row, zone)
            )

        reply = built_reply(
            "CreateMaintenanceWindow", request_id, rules_service_pb2.CreateMaintenanceWindowResponse
        )
        return (await once(self.db, requests, tenant_id, reply, work)).maintenance_window

    async def get_window(
        self, *, tenant_id: str, window_id: str
    ) -> resources_pb2.MaintenanceWindow:
        """One window of the tenant, with its current state."""
        async with self.db.transaction(tenant_id) as session:
            row = await store.get_window(session, window_id=_uuid(window_id, "window_id"))
            zone = await self._tenant_zone(session, tenant_id)
        if row is None:
            raise WindowNotFound(f"maintenance window {window_id} not found")
        return self._window_proto(row, zone)

    async def list_windows(
        self,
        *,
        tenant_id: str,
        page_size: int,
        page_token: str,
        states: Sequence[int],
        start: datetime | None,
        end: datetime | None,
    ) -> rules_service_pb2.ListMaintenanceWindowsResponse:
        """Windows in the wanted states, by next start (active ones first by their end)."""
        wanted = set(states) or {
            resources_pb2.MAINTENANCE_WINDOW_STATE_SCHEDULED,
            resources_pb2.MAINTENANCE_WINDOW_STATE_ACTIVE,
        }
        size = paging.page_size(page_size)
        filters = {"states": sorted(wanted), "start": str(start), "end": str(end)}
        position = paging.decode_page_token(page_token, filters=filters)
        async with self.db.transaction(tenant_id) as session:
            rows = await store.all_windows(session)
            zone = await self._tenant_zone(session, tenant_id)
        items: list[tuple[str, str, resources_pb2.MaintenanceWindow]] = []
        for row in rows:
            message = self._window_proto(row, zone)
            if message.state not in wanted:
                continue
            if start is not None and end is not None:
                domain = convert.window_from_values(row._mapping, zone)
                compiled = compile_stored_windows([domain]).windows[0]
                next_end = compiled.next_end_after(start)
                if next_end is None or not _overlaps(compiled, start, end):
                    continue
            key = (
                message.next_start_time.ToJsonString()
                if message.HasField("next_start_time")
                else "0" + message.current_end_time.ToJsonString()
            )
            items.append((key, row.id, message))
        items.sort(key=lambda i: (i[0], i[1]))
        if position is not None:
            items = [i for i in items if (i[0], i[1]) > (position["k"], position["id"])]
        response = rules_service_pb2.ListMaintenanceWindowsResponse(
            maintenance_windows=[i[2] for i in items[:size]]
        )
        if len(items) > size:
            last = items[size - 1]
            response.next_page_token = paging.encode_page_token(
                {"k": last[0], "id": last[1]}, filters=filters
            )
        return response

    async def update_window(
        self,
        *,
        tenant_id: str,
        window: resources_pb2.MaintenanceWindow,
        mask: field_mask_pb2.FieldMask,
        request_id: str,
    ) -> resources_pb2.MaintenanceWindow:
        """Change the masked fields of a window (extend or shorten with end_override_time)."""
        window_id = _uuid(window.id, "maintenance_window.id")
        paths = _mask_paths(mask, _WINDOW_MUTABLE, _WINDOW_MUTABLE)

        async def work(session: AsyncSession) -> rules_service_pb2.UpdateMaintenanceWindowResponse:
            await check_window(self.references, tenant_id=tenant_id, window=window, paths=paths)
            _, version = await store.bump_version(session, tenant_id=tenant_id)
            row = await store.get_window(session, window_id=window_id, for_update=True)
            if row is None:
                raise WindowNotFound(f"maintenance window {window.id} not found")
            _check_etag(window.etag, row.version)
            zone = await self._tenant_zone(session, tenant_id)
            merged = convert.window_to_proto(row, (0, None, None))
            _merge(window, merged, paths)
            values = self._window_values(merged, zone, dict(row._mapping))
            now = self.clock.now()
            values.update(version=row.version + 1, rule_set_version=version, updated_at=now)
            for key in ("id", "tenant_id", "creator", "created_at"):
                values.pop(key, None)
            updated = await store.update_window(session, window_id=window_id, values=values)
            await store.recheck_held_by(session, window_id=window_id, at=now)
            self._changed_windows(session)
            return rules_service_pb2.UpdateMaintenanceWindowResponse(
                maintenance_window=self._window_proto(updated, zone)
            )

        reply = built_reply(
            "UpdateMaintenanceWindow", request_id, rules_service_pb2.UpdateMaintenanceWindowResponse
        )
        return (await once(self.db, requests, tenant_id, reply, work)).maintenance_window

    async def end_window(
        self, *, tenant_id: str, window_id: str, end_recurrence: bool, request_id: str
    ) -> resources_pb2.MaintenanceWindow:
        """End the current occurrence now (and, if asked, every later one)."""
        wid = _uuid(window_id, "window_id")

        async def work(session: AsyncSession) -> rules_service_pb2.EndMaintenanceWindowResponse:
            _, version = await store.bump_version(session, tenant_id=tenant_id)
            row = await store.get_window(session, window_id=wid, for_update=True)
            if row is None:
                raise WindowNotFound(f"maintenance window {window_id} not found")
            now = self.clock.now()
            values: dict[str, Any] = {
                "ended_early_at": now,
                "extended_until": None,
                "end_override_at": None,
                "version": row.version + 1,
                "rule_set_version": version,
                "updated_at": now,
            }
            if end_recurrence or row.rrule is None:
                values["cancelled_from"] = now
            updated = await store.update_window(session, window_id=wid, values=values)
            await store.recheck_held_by(session, window_id=wid, at=now)
            zone = await self._tenant_zone(session, tenant_id)
            self._changed_windows(session)
            return rules_service_pb2.EndMaintenanceWindowResponse(
                maintenance_window=self._window_proto(updated, zone)
            )

        reply = built_reply(
            "EndMaintenanceWindow", request_id, rules_service_pb2.EndMaintenanceWindowResponse
        )
        return (await once(self.db, requests, tenant_id, reply, work)).maintenance_window

    async def delete_window(
        self, *, tenant_id: str, window_id: str, etag: str, request_id: str
    ) -> None:
        """Delete a window; series it held are re-evaluated at once."""
        wid = _uuid(window_id, "window_id")

        async def work(
            session: AsyncSession,
        ) -> rules_service_pb2.DeleteMaintenanceWindowResponse:
            await store.bump_version(session, tenant_id=tenant_id)
            row = await store.get_window(session, window_id=wid, for_update=True)
            if row is None:
                raise WindowNotFound(f"maintenance window {window_id} not found")
            _check_etag(etag, row.version)
            await store.delete_window(session, window_id=wid)
            await store.recheck_held_by(session, window_id=wid, at=self.clock.now())
            self._changed_windows(session)
            return rules_service_pb2.DeleteMaintenanceWindowResponse()

        reply = built_reply(
            "DeleteMaintenanceWindow", request_id, rules_service_pb2.DeleteMaintenanceWindowResponse
        )
        await once(self.db, requests, tenant_id, reply, work)

    # ---- routing -----------------------------------------------------------------------

    def _decide(
        self, compiled: Compiled, alert: ingest_pb.AlertEvent, at: datetime
    ) -> tuple[Decision, resources_pb2.Decision]:
        routable = convert.routable(alert, now=at)
        decision = decide(compiled.rules, compiled.windows, routable, at)
        message = convert.decision(decision, compiled.rules, compiled.windows, routable, at)
        return decision, message

    @asynccontextmanager
    async def routing_transaction(
        self, tenant_ids: Sequence[str]
    ) -> AsyncIterator[tuple[AsyncSession, dict[str, Any]]]:
        """The transaction of a batch of received alerts: BEGIN, the binding of
        ``tenant_ids`` and the read of their settings in one round trip. Yields the session
        and the settings for :meth:`route_received`."""
        tenants = sorted(set(tenant_ids))
        statement, params = store.settings_query([canonical(t) for t in tenants])
        async with self.db.transaction_then(
            tenants, statement, params, row_factory=namedtuple_row
        ) as (session, rows):
            yield session, store.settings_by_tenant(rows)

    async def route_received(
        self,
        session: AsyncSession,
        received: Sequence[Received],
        *,
        inbox: Inbox,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Route a batch of received alerts, in order, in set-based steps.

        Binds the batch's tenant set in the session. Same effects as handling the events one
        after another: an event the ``inbox`` already holds (or a repeat in the batch) is
        skipped, so is an alert already decided; the rest are decided and logged, project
        their series (an older trigger or reset never overwrites a newer one) and emit
        ``alert.routed``, each carrying its own event's ``trace_headers``.
        """
        if not received:
            return
        compiled_of = await self.cache.get_many(
            session, [r.alert.tenant_id for r in received], settings=settings
        )
        columns: dict[str, list[Any]] = {name: [] for name in _DECISION_COLUMNS}
        decided: list[_Decided] = []
        lock_keys: set[tuple[str, str]] = set()
        for r in received:
            alert = r.alert
            compiled = compiled_of[alert.tenant_id]
            now = self.clock.now()
            decision, message = self._decide(compiled, alert, now)
            occurred = _occurred(alert, now)
            columns["decision_event_id"].append(r.event_id)
            columns["tenant_id"].append(alert.tenant_id)
            columns["alert_id"].append(alert.alert_id)
            columns["series_key"].append(alert.series_key)
            columns["occurred_at"].append(occurred)
            columns["alert"].append(alert.SerializeToString())
            columns["kind"].append(decision.kind)
            columns["window_id"].append(decision.window_id)
            columns["rule_ids"].append(Jsonb(list(decision.matched_rule_ids)))
            columns["rule_set_version"].append(decision.rule_set_version)
            columns["create_ticket"].append(
                bool(decision.actions and decision.actions.create_ticket)
            )
            columns["decided_at"].append(now)
            key = (canonical(alert.tenant_id), alert.series_key)
            if alert.kind in (ingest_pb.ALERT_KIND_TRIGGER, ingest_pb.ALERT_KIND_RESET):
                lock_keys.add(key)
            decided.append(_Decided(r, compiled, decision, message, occurred, now, key))
        found = await store.claim_decide_lock(
            session,
            inbox=f"{inbox.table.schema}.{inbox.table.name}",
            consumer=inbox.consumer,
            event_ids=[r.event_id for r in received],
            event_tenant_ids=[r.alert.tenant_id for r in received],
            decisions=columns,
            lock_keys=sorted(lock_keys),
        )
        routed: list[_Decided] = []
        taken: set[tuple[str, str]] = set()
        for d in decided:
            if d.received.event_id not in found.event_ids:
                continue  # a redelivery
            alert_key = (d.key[0], d.received.alert.alert_id)
            if alert_key not in found.logged or alert_key in taken:
                log.info("alert already routed", extra={"alert_id": d.received.alert.alert_id})
                continue
            taken.add(alert_key)
            routed.append(d)
        if not routed:
            return
        # The series upsert and the outbox insert travel together.
        async with pipelined(session):
            await self._project_series(session, routed, found.series)
            await self.outbox.add(
                session,
                *(
                    routed_envelope(
                        d.received.alert, d.message, events_pb2.ROUTING_CAUSE_ALERT_RECEIVED, d.now
                    )
                    for d in routed
                ),
                trace_headers=[d.received.trace_headers for d in routed],
            )

    async def _project_series(
        self,
        session: AsyncSession,
        routed: Sequence[_Decided],
        stored: dict[tuple[str, str], tuple[datetime, int]],
    ) -> None:
        """Move the series of ``routed`` alerts, in order, from their ``stored`` (locked)
        state: the latest trigger or reset of each series wins; one upsert for all."""
        # Each series' last event: (event time, sequence), stored or projected in this batch.
        latest: dict[tuple[str, str], tuple[datetime, int]] = dict(stored)
        changed: dict[tuple[str, str], _SeriesRow] = {}
        held = False
        for d in routed:
            alert = d.received.alert
            if alert.kind not in (ingest_pb.ALERT_KIND_TRIGGER, ingest_pb.ALERT_KIND_RESET):
                continue
            last = latest.get(d.key)
            if last is not None and _older(alert, d.occurred, last[0], last[1]):
                continue
            previous = changed.get(d.key)
            row = _SeriesRow(
                tenant_id=alert.tenant_id,
                series_key=alert.series_key,
                state="reset",
                last_alert_id=alert.alert_id,
                last_event_at=d.occurred,
                last_sequence=alert.series_sequence,
                # A reset keeps the trigger it ends: this batch's, else (None) the stored one.
                trigger_alert=None if previous is None else previous.trigger_alert,
                suppressed_window_id=None,
                suppressed_until=None,
            )
            if alert.kind == ingest_pb.ALERT_KIND_TRIGGER:
                row.state = "firing"
                row.trigger_alert = alert.SerializeToString()
                if d.decision.window_id is not None:
                    row.suppressed_window_id = d.decision.window_id
                    row.suppressed_until = _hold_end(d.compiled, d.decision.window_id, d.now)
                    held = True
            changed[d.key] = row
            latest[d.key] = (d.occurred, alert.series_sequence)
        if not changed:
            return
        columns: dict[str, list[Any]] = {name: [] for name in _SERIES_COLUMNS}
        for row in changed.values():
            for name in _SERIES_COLUMNS:
                columns[name].append(getattr(row, name))
        await store.upsert_series_many(session, columns)
        if held:
            after_commit(session, self.windows_changed.set)

    async def reroute_due(self, *, limit: int = 500) -> int:
        """Re-evaluate held series whose window ended; returns how many were routed."""
        now = self.clock.now()
        async with self.db.system_transaction() as session:
            due = await store.due_series(session, now=now, limit=limit)
        by_tenant: dict[str, list[str]] = {}
        for row in due:
            by_tenant.setdefault(str(row.tenant_id), []).append(row.series_key)
        routed = 0
        for tenant_id, keys in by_tenant.items():
            async with self.db.transaction(tenant_id) as session:
                compiled = await self.cache.get(session, tenant_id)
                for row in await store.lock_due_series(session, keys=keys, now=now):
                    alert = ingest_pb.AlertEvent()
                    alert.ParseFromString(row.trigger_alert)
                    decision, message = self._decide(compiled, alert, now)
                    if decision.window_id is not None:
                        await store.update_series(
                            session,
                            series_key=row.series_key,
                            values={
                                "suppressed_window_id": decision.window_id,
                                "suppressed_until": _hold_end(compiled, decision.window_id, now),
                            },
                        )
                        continue
                    await store.update_series(
                        session,
                        series_key=row.series_key,
                        values={"suppressed_window_id": None, "suppressed_until": None},
                    )
                    await self.outbox.add(
                        session,
                        routed_envelope(alert, message, events_pb2.ROUTING_CAUSE_WINDOW_ENDED, now),
                    )
                    routed += 1
        return routed

    async def run_window_ends(self) -> None:
        """Forever: sleep until the next hold ends (or windows change), then re-route."""
        while True:
            self.windows_changed.clear()
            try:
                while await self.reroute_due() > 0:
                    pass
                async with self.db.system_transaction() as session:
                    next_end = await store.next_hold_end(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("window-end pass failed; retrying")
                next_end = None
            now = self.clock.now()
            deadline = next_end if next_end is not None else now.replace(year=now.year + 1)
            await self.clock.sleep_until(deadline, self.windows_changed)

    async def set_time_zone(
        self, session: AsyncSession, *, tenant_id: str, time_zone: str, changed_at: datetime
    ) -> None:
        """Apply a tenant's new zone (from ``tenant.changed``); bumps the version if it moved."""
        zone = convert.zone_or_utc(time_zone)
        if zone != time_zone:
            log.warning("ignoring unknown tenant zone", extra={"time_zone": time_zone})
            return
        if await store.set_time_zone(
            session, tenant_id=tenant_id, time_zone=zone, changed_at=changed_at
        ):
            await store.bump_version(session, tenant_id=tenant_id)

    # ---- evaluate and simulate ---------------------------------------------------------

    async def evaluate(
        self,
        *,
        tenant_id: str,
        alert_id: str | None,
        alert: ingest_pb.AlertEvent | None,
        at: datetime | None,
    ) -> resources_pb2.Decision:
        """The decision the current rules give one alert, without side effects."""
        async with self.db.transaction(tenant_id) as session:
            if alert_id is not None:
                row = await store.get_decision(session, alert_id=alert_id)
                if row is None:
                    raise AlertNotFound(f"alert {alert_id} not found")
                alert = ingest_pb.AlertEvent()
                alert.ParseFromString(row.alert)
                at = at or row.occurred_at
            if alert is None:
                raise InvalidArgument.field("target", "alert_id or alert is required")
            alert.tenant_id = tenant_id
            compiled = await self.cache.get(session, tenant_id)
        return self._decide(compiled, alert, at or self.clock.now())[1]

    async def simulate(
        self,
        *,
        tenant_id: str,
        request: rules_service_pb2.SimulateRulesRequest,
    ) -> rules_service_pb2.SimulateRulesResponse:
        """Replay stored alerts through proposed rules/windows beside what was decided."""
        end = from_timestamp(request.end_time) if request.HasField("end_time") else self.clock.now()
        start = from_timestamp(request.start_time)
        if end <= start:
            raise InvalidArgument.field("end_time", "must be after start_time")
        cap = request.max_alerts or MAX_SIMULATED_ALERTS
        async with self.db.transaction(tenant_id) as session:
            compiled = await self.cache.get(session, tenant_id)
            rows = await store.decisions_between(session, start=start, end=end, limit=cap + 1)
            zone = compiled.time_zone
            proposed_rules, ids = (
                self._proposed_rules(tenant_id, compiled, request.proposed_rules.rules)
                if request.HasField("proposed_rules")
                else (compiled.rules, [r.rule.id for r in compiled.rules.rules])
            )
            proposed_windows = (
                self._proposed_windows(zone, request.proposed_windows.maintenance_windows)
                if request.HasField("proposed_windows")
                else compiled.windows
            )
        truncated = len(rows) > cap
        rows = rows[:cap]
        alerts = []
        for row in rows:
            event = ingest_pb.AlertEvent()
            event.ParseFromString(row.alert)
            alerts.append(convert.routable(event))
        report = simulate(
            proposed_rules, proposed_rules, proposed_windows, proposed_windows, alerts
        )
        current = _tally_log(rows)
        response = rules_service_pb2.SimulateRulesResponse(
            alerts_evaluated=len(rows),
            truncated=truncated,
            rule_set_version=compiled.version,
            proposed_total=_counts(report.proposed),
            current_total=current.get("", rules_service_pb2.SimulationCounts()),
        )
        names = {r.rule.id: r.rule.name for r in compiled.rules.rules}
        index = {rid: i for i, rid in enumerate(ids)}
        seen: set[str] = set()
        window_names = {w.window.id: w.window.name for w in compiled.windows.windows}
        for row_report in report.rows:
            if row_report.kind == "window":
                wid = row_report.key.removeprefix("window:")
                seen.add(row_report.key)
                window_names.setdefault(wid, row_report.name)
                response.windows.add(
                    window_id="" if wid.startswith("new-") else wid,
                    display_name=row_report.name,
                    proposed_suppressed=row_report.proposed.suppressed,
                    current_suppressed=current.get(
                        row_report.key, rules_service_pb2.SimulationCounts()
                    ).suppressed,
                )
                continue
            if row_report.kind == "unmatched":
                continue
            seen.add(row_report.key)
            response.rules.add(
                rule_id="" if row_report.key.startswith("new-") else row_report.key,
                display_name=row_report.name,
                proposed_index=index.get(row_report.key, -1),
                proposed=_counts(row_report.proposed),
                current=current.get(row_report.key, rules_service_pb2.SimulationCounts()),
            )
        for rid, name in names.items():
            if rid not in seen:
                response.rules.add(
                    rule_id=rid,
                    display_name=name,
                    proposed_index=-1,
                    current=current.get(rid, rules_service_pb2.SimulationCounts()),
                )
        for wid, name in window_names.items():
            if f"window:{wid}" not in seen:
                response.windows.add(
                    window_id=wid,
                    display_name=name,
                    current_suppressed=current.get(
                        f"window:{wid}", rules_service_pb2.SimulationCounts()
                    ).suppressed,
                )
        return response

    def _proposed_rules(
        self, tenant_id: str, compiled: Compiled, messages: Sequence[resources_pb2.Rule]
    ) -> tuple[CompiledRuleSet, list[str]]:
        violations: list[Violation] = []
        domain: list[Rule] = []
        ids: list[str] = []
        for i, message in enumerate(messages):
            copy = resources_pb2.Rule()
            copy.CopyFrom(message)
            copy.id = message.id or f"new-{i}"
            copy.position = i
            found: list[Violation] = []
            rule = convert.rule(copy, found)
            found.extend(validate_rule(rule))
            violations.extend(
                Violation(f"proposed_rules.rules[{i}].{convert.rule_path(v.field_path)}", v.message)
                for v in found
            )
            domain.append(rule)
            ids.append(copy.id)
        if violations:
            raise _invalid(violations, lambda p: p)
        try:
            rules = compile_rule_set(
                RuleSet(
                    tenant_id=tenant_id,
                    version=compiled.version,
                    time_zone=compiled.time_zone,
                    rules=tuple(domain),
                    default_actions=compiled.rules.default_actions,
                )
            )
        except RuleValidationError as exc:
            raise _invalid(exc.violations, lambda p: "proposed_rules." + p) from exc
        return rules, ids

    def _proposed_windows(
        self, zone: str, messages: Sequence[resources_pb2.MaintenanceWindow]
    ) -> CompiledWindowSet:
        violations: list[Violation] = []
        domain = []
        for i, message in enumerate(messages):
            values = convert.window_values(message)
            values.update(
                id=message.id or f"new-{i}",
                ended_early_at=from_timestamp(message.ended_early_time)
                if message.HasField("ended_early_time")
                else None,
            )
            window = convert.window_from_values(values, zone)
            recurring = message.WhichOneof("schedule") == "recurring"
            violations.extend(
                Violation(
                    f"proposed_windows.maintenance_windows[{i}]."
                    + convert.window_path(v.field_path, recurring=recurring),
                    v.message,
                )
                for v in validate_window(window)
            )
            domain.append(window)
        if violations:
            raise _invalid(violations, lambda p: p)
        return compile_windows(domain)


_DECISION_COLUMNS = (
    "decision_event_id",
    "tenant_id",
    "alert_id",
    "series_key",
    "occurred_at",
    "alert",
    "kind",
    "window_id",
    "rule_ids",
    "rule_set_version",
    "create_ticket",
    "decided_at",
)
_SERIES_COLUMNS = (
    "tenant_id",
    "series_key",
    "state",
    "last_alert_id",
    "last_event_at",
    "last_sequence",
    "trigger_alert",
    "suppressed_window_id",
    "suppressed_until",
)


class Received(NamedTuple):
    """One received alert of a batch: its event id (canonical), the alert, and the trace
    headers its ``alert.routed`` carries."""

    event_id: str
    alert: ingest_pb.AlertEvent
    trace_headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Decided:
    received: Received
    compiled: Compiled
    decision: Decision
    message: resources_pb2.Decision
    occurred: datetime
    now: datetime
    key: tuple[str, str]  # (canonical tenant, series key)


@dataclass(slots=True)
class _SeriesRow:
    """A series row as a batch projects it (``trigger_alert`` None: keep the stored one)."""

    tenant_id: str
    series_key: str
    state: str
    last_alert_id: str
    last_event_at: datetime
    last_sequence: int
    trigger_alert: bytes | None
    suppressed_window_id: str | None
    suppressed_until: datetime | None


@lru_cache(maxsize=4096)
def canonical(tenant_id: str) -> str:
    """A UUID's canonical text (as PostgreSQL prints it), to match rows to events."""
    return str(uuid.UUID(tenant_id))


def _occurred(alert: ingest_pb.AlertEvent, now: datetime) -> datetime:
    if alert.HasField("occurred_time"):
        return from_timestamp(alert.occurred_time)
    if alert.HasField("received_time"):
        return from_timestamp(alert.received_time)
    return now


def _uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError) as exc:
        raise InvalidArgument.field(field, "must be a UUID") from exc


def _older(
    alert: ingest_pb.AlertEvent, occurred: datetime, last_event_at: datetime, last_sequence: int
) -> bool:
    if alert.series_sequence and last_sequence:
        return bool(alert.series_sequence < last_sequence)
    return bool(occurred < last_event_at)


def _hold_end(compiled: Compiled, window_id: str, now: datetime) -> datetime:
    for window, occurrence in compiled.windows.active_at(now):
        if window.window.id == window_id:
            return occurrence[1]
    return now


def _overlaps(compiled: Any, start: datetime, end: datetime) -> bool:
    if compiled.occurrence_at(start) is not None:
        return True
    _, valid_until, _ = compiled.state(start, start.timestamp())
    return bool(valid_until < end.timestamp())


def _counts(c: Any) -> rules_service_pb2.SimulationCounts:
    return rules_service_pb2.SimulationCounts(
        matched=c.routed,
        tickets_opened=c.tickets_opened,
        recorded=c.record_only,
        suppressed=c.suppressed,
        unmatched=c.unmatched,
    )


def _tally_log(rows: Sequence[Any]) -> dict[str, rules_service_pb2.SimulationCounts]:
    """What the rules in force did: counts per first rule, per window, and in total ("")."""
    tally: dict[str, rules_service_pb2.SimulationCounts] = {}

    def bump(key: str, field: str) -> None:
        counts = tally.setdefault(key, rules_service_pb2.SimulationCounts())
        setattr(counts, field, getattr(counts, field) + 1)

    for row in rows:
        if row.kind == "suppressed":
            for key in (f"window:{row.window_id}", ""):
                bump(key, "suppressed")
            continue
        key = row.rule_ids[0] if row.rule_ids else "(unmatched)"
        for k in (key, ""):
            bump(k, "unmatched" if row.kind == "unmatched" else "matched")
            if not row.create_ticket:
                bump(k, "recorded")
            else:
                event = ingest_pb.AlertEvent()
                event.ParseFromString(row.alert)
                if event.kind == ingest_pb.ALERT_KIND_TRIGGER:
                    bump(k, "tickets_opened")
    return tally
