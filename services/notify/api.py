"""gRPC servicer of the notify service: proto <-> use cases, no SQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import duration_pb2
from grpc_status import rpc_status

from services.notify import convert
from services.notify.convert import ChannelSpec
from services.notify.sendtest import ChannelResting, resting_status, retry_after_note
from services.notify.service import ChannelView, NotifyService, TestOutcome, require_uuid
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import (
    FieldViolation,
    InvalidArgument,
    current_principal,
    decode_page_token,
    encode_page_token,
    from_timestamp,
    page_size,
    to_timestamp,
)

READ = "notify:read"
WRITE = "notify:write"
MAX_DELIVERY_PAGE = 1000
_CHANNEL_FIELDS = ("display_name", "disabled", "quiet_hours", "rate_limit", "digest", "template")


def _tenant_for(scope: str) -> str:
    principal = current_principal()
    principal.require(scope)
    return principal.require_tenant()


def channel_to_proto(view: ChannelView) -> pb.Channel:
    """The API view of a stored channel (secrets omitted)."""
    row = view.row
    channel = convert.spec_to_proto(view.spec)
    channel.id = str(row["id"])
    channel.tenant_id = str(row["tenant_id"])
    state = str(row.get("breaker_state") or "closed")
    channel.circuit_state = pb.CircuitState.Value(f"CIRCUIT_STATE_{state.upper()}")
    for field, column in (
        ("last_success_time", "last_success_at"),
        ("last_failure_time", "last_failure_at"),
        ("create_time", "created_at"),
        ("update_time", "updated_at"),
    ):
        if row.get(column) is not None:
            getattr(channel, field).CopyFrom(to_timestamp(row[column]))
    channel.etag = str(row["version"])
    return channel


def _after(position: dict[str, Any] | None) -> tuple[datetime, str] | None:
    if not position:
        return None
    return datetime.fromisoformat(position["t"]), str(position["id"])


def _token(rows: Sequence[Any], more: bool, filters: Any) -> str:
    if not more:
        return ""
    last = rows[-1]
    return encode_page_token(
        {"t": last["created_at"].isoformat(), "id": str(last["id"])}, filters=filters
    )


def apply_channel_mask(
    current: ChannelSpec, request: pb.Channel, paths: Sequence[str]
) -> ChannelSpec:
    """The stored spec with the request's values at ``paths``; secrets only when named."""
    if not paths:
        raise InvalidArgument.field("update_mask", "name the fields to change")
    kind_field = convert.KIND_FIELDS[current.kind]
    requested_kind = convert.channel_kind(request)
    config = dict(current.config)
    secrets = dict(current.secrets)
    changes: dict[str, Any] = {}
    violations: list[FieldViolation] = []
    asked_config, asked_secrets = (
        convert.split_secrets(current.kind, convert.config_message(request, current.kind))
        if requested_kind in (None, current.kind)
        else ({}, {})
    )
    secret_names = convert.SECRET_FIELDS[current.kind]
    config_fields = convert.config_message(request, current.kind).DESCRIPTOR.fields_by_name
    for path in paths:
        head, _, rest = path.partition(".")
        if head in _CHANNEL_FIELDS:
            if head in ("display_name", "disabled"):
                changes[head] = (
                    request.display_name.strip() if head == "display_name" else request.disabled
                )
            else:
                message = getattr(request, head)
                present = request.HasField(head)  # type: ignore[arg-type]
                changes[head] = convert.to_json(message) if present else None
        elif head == kind_field:
            if requested_kind not in (None, current.kind):
                violations.append(FieldViolation("channel", "the channel's kind cannot change"))
            elif not rest:
                config = asked_config
            elif rest in secret_names:
                if asked_secrets.get(rest):
                    secrets[rest] = asked_secrets[rest]
                else:
                    secrets.pop(rest, None)
            elif (name := rest.split(".", 1)[0]) in config_fields:
                if name in asked_config:
                    config[name] = asked_config[name]
                else:
                    config.pop(name, None)
            else:
                violations.append(FieldViolation("update_mask", f"unknown field {path!r}"))
        elif head in convert.FIELD_KINDS:
            violations.append(FieldViolation(f"channel.{head}", "the channel's kind cannot change"))
        else:
            violations.append(FieldViolation("update_mask", f"cannot update {path!r}"))
    if violations:
        raise InvalidArgument("invalid update", violations=violations)
    return dataclasses.replace(current, config=config, secrets=secrets, **changes)


def _policy_values(policy: pb.NotificationPolicy) -> dict[str, Any]:
    return {
        "display_name": policy.display_name.strip(),
        "disabled": policy.disabled,
        "event_types": [convert.ENUM_EVENT_TYPE.get(int(t), "") for t in policy.event_types],
        "filter": convert.filter_to_json(policy.filter),
        "channel_ids": list(dict.fromkeys(policy.channel_ids)),
    }


def _policy_proto_of(values: dict[str, Any]) -> pb.NotificationPolicy:
    """Just enough of a policy for validation."""
    out = pb.NotificationPolicy(
        display_name=values["display_name"],
        channel_ids=values["channel_ids"],
    )
    for t in values["event_types"]:
        out.event_types.append(convert.EVENT_TYPE_ENUM.get(t, -1))  # type: ignore[arg-type]
    f = values["filter"]
    out.filter.min_severity = f.get("min_severity", 0)
    out.filter.priorities.extend(f.get("priorities", []))
    return out


def _latency(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(timedelta(seconds=seconds))
    return out


class NotifyApi(api_grpc.NotifyServiceServicer):
    """NotifyService: channels, policies and deliveries of the caller's tenant."""

    def __init__(self, service: NotifyService) -> None:
        self._service = service

    # -- channels ---------------------------------------------------------------------

    async def CreateChannel(
        self, request: api.CreateChannelRequest, context: Any
    ) -> api.CreateChannelResponse:
        """Create a channel; its secrets are sealed and never returned."""
        tenant_id = _tenant_for(WRITE)
        spec = convert.spec_from_proto(request.channel)
        return await self._service.create_channel(
            tenant_id=tenant_id,
            spec=spec,
            request_id=request.request_id,
            respond=lambda view: api.CreateChannelResponse(channel=channel_to_proto(view)),
            response_type=api.CreateChannelResponse,
        )

    async def GetChannel(
        self, request: api.GetChannelRequest, context: Any
    ) -> api.GetChannelResponse:
        """One channel."""
        tenant_id = _tenant_for(READ)
        view = await self._service.get_channel(tenant_id=tenant_id, channel_id=request.channel_id)
        return api.GetChannelResponse(channel=channel_to_proto(view))

    async def ListChannels(
        self, request: api.ListChannelsRequest, context: Any
    ) -> api.ListChannelsResponse:
        """A page of channels, oldest first."""
        tenant_id = _tenant_for(READ)
        kind = convert.ENUM_KIND.get(int(request.kind))
        filters = {"kind": int(request.kind)}
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        views = await self._service.list_channels(
            tenant_id=tenant_id,
            kind=kind.value if kind else None,
            after=_after(position),
            limit=limit + 1,
        )
        page = views[:limit]
        return api.ListChannelsResponse(
            channels=[channel_to_proto(v) for v in page],
            next_page_token=_token([v.row for v in page], len(views) > limit, filters),
        )

    async def UpdateChannel(
        self, request: api.UpdateChannelRequest, context: Any
    ) -> api.UpdateChannelResponse:
        """Change the fields named in ``update_mask``."""
        tenant_id = _tenant_for(WRITE)
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument.field("update_mask", "name the fields to change")
        return await self._service.update_channel(
            tenant_id=tenant_id,
            channel_id=request.channel.id,
            etag=request.channel.etag,
            patch=lambda current: apply_channel_mask(current, request.channel, paths),
            request_id=request.request_id,
            respond=lambda view: api.UpdateChannelResponse(channel=channel_to_proto(view)),
            response_type=api.UpdateChannelResponse,
        )

    async def DeleteChannel(
        self, request: api.DeleteChannelRequest, context: Any
    ) -> api.DeleteChannelResponse:
        """Delete a channel no policy names."""
        tenant_id = _tenant_for(WRITE)
        return await self._service.delete_channel(
            tenant_id=tenant_id,
            channel_id=request.channel_id,
            etag=request.etag,
            request_id=request.request_id,
            respond=api.DeleteChannelResponse,
            response_type=api.DeleteChannelResponse,
        )

    async def SendTestNotification(
        self, request: api.SendTestNotificationRequest, context: Any
    ) -> api.SendTestNotificationResponse:
        """Send a synthetic message now; the outcome comes back at once."""
        tenant_id = _tenant_for(WRITE)

        def respond(outcome: TestOutcome) -> api.SendTestNotificationResponse:
            result = outcome.result
            error_class = None
            if not result.ok and result.error_class is not None:
                code = result.status_code or 0
                error_class = result.error_class.value
                if error_class == "invalid_config" and 400 <= code < 500:
                    error_class = "rejected"
            return api.SendTestNotificationResponse(
                status=pb.DELIVERY_STATUS_DELIVERED if result.ok else pb.DELIVERY_STATUS_FAILED,
                latency=_latency(outcome.latency),
                error_class=convert.error_class_enum(error_class),  # type: ignore[arg-type]
                error_message="" if result.ok else (result.error or "") + retry_after_note(result),
                response_code=result.status_code or 0,
                provider_request_id=result.provider_request_id or "",
            )

        try:
            return await self._service.send_test(
                tenant_id=tenant_id,
                channel_id=request.channel_id,
                text=request.message,
                request_id=request.request_id,
                respond=respond,
                response_type=api.SendTestNotificationResponse,
            )
        except ChannelResting as resting:
            await context.abort_with_status(rpc_status.to_status(resting_status(resting)))
            raise

    # -- policies ---------------------------------------------------------------------

    async def CreateNotificationPolicy(
        self, request: api.CreateNotificationPolicyRequest, context: Any
    ) -> api.CreateNotificationPolicyResponse:
        """Create a policy over the tenant's channels."""
        tenant_id = _tenant_for(WRITE)
        policy = request.notification_policy
        return await self._service.create_policy(
            tenant_id=tenant_id,
            values=_policy_values(policy),
            validate=lambda known: convert.policy_violations(policy, known),
            request_id=request.request_id,
            respond=lambda row: api.CreateNotificationPolicyResponse(
                notification_policy=convert.policy_to_proto(row)
            ),
            response_type=api.CreateNotificationPolicyResponse,
        )

    async def GetNotificationPolicy(
        self, request: api.GetNotificationPolicyRequest, context: Any
    ) -> api.GetNotificationPolicyResponse:
        """One policy."""
        tenant_id = _tenant_for(READ)
        row = await self._service.get_policy(
            tenant_id=tenant_id, policy_id=request.notification_policy_id
        )
        return api.GetNotificationPolicyResponse(notification_policy=convert.policy_to_proto(row))

    async def ListNotificationPolicies(
        self, request: api.ListNotificationPoliciesRequest, context: Any
    ) -> api.ListNotificationPoliciesResponse:
        """A page of policies, oldest first."""
        tenant_id = _tenant_for(READ)
        filters = {"channel_id": request.channel_id}
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        rows = await self._service.list_policies(
            tenant_id=tenant_id,
            channel_id=request.channel_id or None,
            after=_after(position),
            limit=limit + 1,
        )
        page = rows[:limit]
        return api.ListNotificationPoliciesResponse(
            notification_policies=[convert.policy_to_proto(r) for r in page],
            next_page_token=_token(page, len(rows) > limit, filters),
        )

    async def UpdateNotificationPolicy(
        self, request: api.UpdateNotificationPolicyRequest, context: Any
    ) -> api.UpdateNotificationPolicyResponse:
        """Change the fields named in ``update_mask``."""
        tenant_id = _tenant_for(WRITE)
        paths = list(request.update_mask.paths)
        allowed = {"display_name", "disabled", "event_types", "filter", "channel_ids"}
        bad = [p for p in paths if p.split(".", 1)[0] not in allowed]
        if not paths or bad:
            raise InvalidArgument.field(
                "update_mask",
                f"name fields among {sorted(allowed)}" + (f"; not {bad}" if bad else ""),
            )
        asked = _policy_values(request.notification_policy)

        def patch(row: Any) -> dict[str, Any]:
            values = {
                "display_name": row["display_name"],
                "disabled": row["disabled"],
                "event_types": list(row["event_types"]),
                "filter": dict(row["filter"] or {}),
                "channel_ids": [str(c) for c in row["channel_ids"]],
            }
            for path in paths:
                head = path.split(".", 1)[0]
                values[head] = asked[head]
            return values

        return await self._service.update_policy(
            tenant_id=tenant_id,
            policy_id=request.notification_policy.id,
            etag=request.notification_policy.etag,
            patch=patch,
            validate=lambda values, known: convert.policy_violations(
                _policy_proto_of(values), known
            ),
            request_id=request.request_id,
            respond=lambda row: api.UpdateNotificationPolicyResponse(
                notification_policy=convert.policy_to_proto(row)
            ),
            response_type=api.UpdateNotificationPolicyResponse,
        )

    async def DeleteNotificationPolicy(
        self, request: api.DeleteNotificationPolicyRequest, context: Any
    ) -> api.DeleteNotificationPolicyResponse:
        """Delete a policy."""
        tenant_id = _tenant_for(WRITE)
        return await self._service.delete_policy(
            tenant_id=tenant_id,
            policy_id=request.notification_policy_id,
            etag=request.etag,
            request_id=request.request_id,
            respond=api.DeleteNotificationPolicyResponse,
            response_type=api.DeleteNotificationPolicyResponse,
        )

    # -- deliveries -------------------------------------------------------------------

    async def ListDeliveries(
        self, request: api.ListDeliveriesRequest, context: Any
    ) -> api.ListDeliveriesResponse:
        """A page of deliveries, newest first, each with its last attempt."""
        tenant_id = _tenant_for(READ)
        statuses = [
            pb.DeliveryStatus.Name(s).removeprefix("DELIVERY_STATUS_").lower()
            for s in request.statuses
            if s
        ]
        event_types = [convert.ENUM_EVENT_TYPE[int(t)] for t in request.event_types if t]
        if request.channel_id:
            require_uuid(request.channel_id, "channel_id")
        filters: dict[str, Any] = {
            "channel_id": request.channel_id or None,
            "statuses": statuses,
            "event_types": event_types,
            "ticket_id": request.ticket_id or None,
            "event_id": request.event_id or None,
            "start": from_timestamp(request.start_time) if request.HasField("start_time") else None,
            "end": from_timestamp(request.end_time) if request.HasField("end_time") else None,
        }
        position = decode_page_token(request.page_token, filters=filters)
        if request.page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        limit = min(request.page_size or 50, MAX_DELIVERY_PAGE)
        items = await self._service.list_deliveries(
            tenant_id=tenant_id, filters=filters, after=_after(position), limit=limit + 1
        )
        page = items[:limit]
        return api.ListDeliveriesResponse(
            deliveries=[convert.delivery_to_proto(row, last) for row, last in page],
            next_page_token=_token([row for row, _ in page], len(items) > limit, filters),
        )

    async def GetDelivery(
        self, request: api.GetDeliveryRequest, context: Any
    ) -> api.GetDeliveryResponse:
        """One delivery with all its attempts."""
        tenant_id = _tenant_for(READ)
        row, attempts = await self._service.get_delivery(
            tenant_id=tenant_id, delivery_id=request.delivery_id
        )
        return api.GetDeliveryResponse(delivery=convert.delivery_to_proto(row, attempts))

    async def RetryDelivery(
        self, request: api.RetryDeliveryRequest, context: Any
    ) -> api.RetryDeliveryResponse:
        """Queue a FAILED or DEAD delivery for an immediate attempt."""
        tenant_id = _tenant_for(WRITE)
        return await self._service.retry_delivery(
            tenant_id=tenant_id,
            delivery_id=request.delivery_id,
            request_id=request.request_id,
            respond=lambda row, attempts: api.RetryDeliveryResponse(
                delivery=convert.delivery_to_proto(row, attempts)
            ),
            response_type=api.RetryDeliveryResponse,
        )
