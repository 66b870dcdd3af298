"""gRPC servicer of the notify service: proto <-> use cases through convert, nothing else."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from grpc_status import rpc_status

from services.notify.convert import channels as cc
from services.notify.convert import deliveries as cd
from services.notify.convert import policies as cp
from services.notify.convert.preview import sample_envelope
from services.notify.convert.sendtest import resting_status, sent_test_response
from services.notify.domain.policy import CHANNEL_FAILING
from services.notify.domain.preview import channel_failing_sample
from services.notify.domain.records import ChannelView, DeliveryView, PolicyRow
from services.notify.errors import ChannelResting
from services.notify.events import notifiable
from services.notify.service.channels import Channels
from services.notify.service.deliveries import Deliveries
from services.notify.service.policies import Policies
from services.notify.service.preview import Previews
from triage.notify.v1 import notify_service_pb2 as api
from triage.notify.v1 import notify_service_pb2_grpc as api_grpc
from triage.notify.v1 import resources_pb2 as pb
from triage.runtime import (
    IdempotentReply,
    InvalidArgument,
    caller,
    decode_page_token,
    encode_page_token,
    from_timestamp,
    page_of,
    page_size,
    require_uuid,
)

READ = "notify:read"
WRITE = "notify:write"
MAX_DELIVERY_PAGE = 1000
M = TypeVar("M", bound=Message)
_POLICY_FIELDS = {"display_name", "disabled", "event_types", "filter", "channel_ids"}


def _after(position: dict[str, Any] | None) -> tuple[datetime, str] | None:
    if not position:
        return None
    return datetime.fromisoformat(position["t"]), str(position["id"])


def _token(last: tuple[datetime, str] | None, more: bool, filters: Any) -> str:
    if not more or last is None:
        return ""
    return encode_page_token({"t": last[0].isoformat(), "id": last[1]}, filters=filters)


def _last(rows: Sequence[Any]) -> tuple[datetime, str] | None:
    """The keyset position of a page's last row (``created_at``, ``id``)."""
    return (rows[-1].created_at, str(rows[-1].id)) if rows else None


def _channel_reply(
    method: str, request_id: str, response: type[M], wrap: Callable[[pb.Channel], M]
) -> IdempotentReply[ChannelView, M]:
    return IdempotentReply(
        method, request_id, response, lambda view: wrap(cc.channel_to_proto(view))
    )


def _policy_reply(
    method: str, request_id: str, response: type[M], wrap: Callable[[pb.NotificationPolicy], M]
) -> IdempotentReply[PolicyRow, M]:
    return IdempotentReply(method, request_id, response, lambda row: wrap(cp.policy_to_proto(row)))


def _empty_reply(method: str, request_id: str, response: type[M]) -> IdempotentReply[None, M]:
    return IdempotentReply(method, request_id, response, lambda _: response())


class NotifyApi(api_grpc.NotifyServiceServicer):
    """NotifyService: channels, policies and deliveries of the caller's tenant."""

    def __init__(self, channels: Channels, policies: Policies, deliveries: Deliveries) -> None:
        self._channels = channels
        self._policies = policies
        self._deliveries = deliveries

    # -- channels ---------------------------------------------------------------------

    async def CreateChannel(
        self, request: api.CreateChannelRequest, context: Any
    ) -> api.CreateChannelResponse:
        """Create a channel; its secrets are sealed and never returned."""
        tenant_id = caller(WRITE).tenant_id
        spec = cc.spec_from_proto(request.channel)
        return await self._channels.create_channel(
            tenant_id=tenant_id,
            spec=spec,
            validate=cc.validate_spec,
            reply=_channel_reply(
                "CreateChannel",
                request.request_id,
                api.CreateChannelResponse,
                lambda channel: api.CreateChannelResponse(channel=channel),
            ),
        )

    async def GetChannel(
        self, request: api.GetChannelRequest, context: Any
    ) -> api.GetChannelResponse:
        """One channel."""
        tenant_id = caller(READ).tenant_id
        view = await self._channels.get_channel(tenant_id=tenant_id, channel_id=request.channel_id)
        return api.GetChannelResponse(channel=cc.channel_to_proto(view))

    async def ListChannels(
        self, request: api.ListChannelsRequest, context: Any
    ) -> api.ListChannelsResponse:
        """A page of channels, oldest first."""
        tenant_id = caller(READ).tenant_id
        kind = cc.ENUM_KIND.get(int(request.kind))
        filters = {"kind": int(request.kind)}
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        views = await self._channels.list_channels(
            tenant_id=tenant_id,
            kind=kind.value if kind else None,
            after=_after(position),
            limit=limit + 1,
        )
        page, more = page_of(views, limit)
        return api.ListChannelsResponse(
            channels=[cc.channel_to_proto(v) for v in page],
            next_page_token=_token(_last([v.row for v in page]), more, filters),
        )

    async def UpdateChannel(
        self, request: api.UpdateChannelRequest, context: Any
    ) -> api.UpdateChannelResponse:
        """Change the fields named in ``update_mask``."""
        tenant_id = caller(WRITE).tenant_id
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument.field("update_mask", "name the fields to change")
        return await self._channels.update_channel(
            tenant_id=tenant_id,
            channel_id=request.channel.id,
            etag=request.channel.etag,
            patch=lambda current: cc.apply_channel_mask(current, request.channel, paths),
            validate=cc.validate_spec,
            reply=_channel_reply(
                "UpdateChannel",
                request.request_id,
                api.UpdateChannelResponse,
                lambda channel: api.UpdateChannelResponse(channel=channel),
            ),
        )

    async def DeleteChannel(
        self, request: api.DeleteChannelRequest, context: Any
    ) -> api.DeleteChannelResponse:
        """Delete a channel no policy names."""
        tenant_id = caller(WRITE).tenant_id
        return await self._channels.delete_channel(
            tenant_id=tenant_id,
            channel_id=request.channel_id,
            etag=request.etag,
            reply=_empty_reply("DeleteChannel", request.request_id, api.DeleteChannelResponse),
        )

    async def SendTestNotification(
        self, request: api.SendTestNotificationRequest, context: Any
    ) -> api.SendTestNotificationResponse:
        """Send a synthetic message now; the outcome comes back at once."""
        tenant_id = caller(WRITE).tenant_id
        reply = IdempotentReply(
            "SendTestNotification",
            request.request_id,
            api.SendTestNotificationResponse,
            sent_test_response,
        )
        try:
            return await self._channels.send_test(
                tenant_id=tenant_id,
                channel_id=request.channel_id,
                text=request.message,
                reply=reply,
            )
        except ChannelResting as resting:
            await context.abort_with_status(rpc_status.to_status(resting_status(resting)))
            raise

    async def PreviewChannelMessage(
        self, request: api.PreviewChannelMessageRequest, context: Any
    ) -> api.PreviewChannelMessageResponse:
        """A sample event of a type rendered through a channel's templates; sends nothing."""
        tenant_id = caller(READ).tenant_id
        event_type = cp.ENUM_EVENT_TYPE.get(request.event_type)
        if event_type is None:
            raise InvalidArgument.field("event_type", "name an event type")
        now = self._channels.clock()
        if event_type == CHANNEL_FAILING:
            message = channel_failing_sample(tenant_id, now)
        else:
            item = notifiable(sample_envelope(event_type, tenant_id=tenant_id, now=now))
            assert item is not None, event_type  # every sample is one notify acts on
            message = item.message
        template = request.template
        shown = await Previews(db=self._channels.db, box=self._channels.box).preview(
            tenant_id=tenant_id,
            channel_id=request.channel_id,
            kind=cc.ENUM_KIND.get(request.kind),
            template={"title": template.subject_template, "text": template.body_template},
            message=message,
        )
        return api.PreviewChannelMessageResponse(
            title=shown.title,
            text=shown.text,
            html=shown.html,
            payload=shown.payload,
            payload_content_type=shown.content_type,
        )

    # -- policies ---------------------------------------------------------------------

    async def CreateNotificationPolicy(
        self, request: api.CreateNotificationPolicyRequest, context: Any
    ) -> api.CreateNotificationPolicyResponse:
        """Create a policy over the tenant's channels."""
        tenant_id = caller(WRITE).tenant_id
        policy = request.notification_policy
        return await self._policies.create_policy(
            tenant_id=tenant_id,
            draft=cp.policy_draft(policy),
            validate=lambda known: cp.policy_violations(policy, known),
            reply=_policy_reply(
                "CreateNotificationPolicy",
                request.request_id,
                api.CreateNotificationPolicyResponse,
                lambda policy: api.CreateNotificationPolicyResponse(notification_policy=policy),
            ),
        )

    async def GetNotificationPolicy(
        self, request: api.GetNotificationPolicyRequest, context: Any
    ) -> api.GetNotificationPolicyResponse:
        """One policy."""
        tenant_id = caller(READ).tenant_id
        row = await self._policies.get_policy(
            tenant_id=tenant_id, policy_id=request.notification_policy_id
        )
        return api.GetNotificationPolicyResponse(notification_policy=cp.policy_to_proto(row))

    async def ListNotificationPolicies(
        self, request: api.ListNotificationPoliciesRequest, context: Any
    ) -> api.ListNotificationPoliciesResponse:
        """A page of policies, oldest first."""
        tenant_id = caller(READ).tenant_id
        filters = {"channel_id": request.channel_id}
        position = decode_page_token(request.page_token, filters=filters)
        limit = page_size(request.page_size)
        rows = await self._policies.list_policies(
            tenant_id=tenant_id,
            channel_id=request.channel_id or None,
            after=_after(position),
            limit=limit + 1,
        )
        page, more = page_of(rows, limit)
        return api.ListNotificationPoliciesResponse(
            notification_policies=[cp.policy_to_proto(r) for r in page],
            next_page_token=_token(_last(page), more, filters),
        )

    async def UpdateNotificationPolicy(
        self, request: api.UpdateNotificationPolicyRequest, context: Any
    ) -> api.UpdateNotificationPolicyResponse:
        """Change the fields named in ``update_mask``."""
        tenant_id = caller(WRITE).tenant_id
        paths = list(request.update_mask.paths)
        bad = [p for p in paths if p.split(".", 1)[0] not in _POLICY_FIELDS]
        if not paths or bad:
            raise InvalidArgument.field(
                "update_mask",
                f"name fields among {sorted(_POLICY_FIELDS)}" + (f"; not {bad}" if bad else ""),
            )
        asked = cp.policy_draft(request.notification_policy)
        return await self._policies.update_policy(
            tenant_id=tenant_id,
            policy_id=request.notification_policy.id,
            etag=request.notification_policy.etag,
            patch=lambda row: cp.patched_policy(row, asked, paths),
            validate=lambda draft, known: cp.policy_violations(cp.policy_proto_of(draft), known),
            reply=_policy_reply(
                "UpdateNotificationPolicy",
                request.request_id,
                api.UpdateNotificationPolicyResponse,
                lambda policy: api.UpdateNotificationPolicyResponse(notification_policy=policy),
            ),
        )

    async def DeleteNotificationPolicy(
        self, request: api.DeleteNotificationPolicyRequest, context: Any
    ) -> api.DeleteNotificationPolicyResponse:
        """Delete a policy."""
        tenant_id = caller(WRITE).tenant_id
        return await self._policies.delete_policy(
            tenant_id=tenant_id,
            policy_id=request.notification_policy_id,
            etag=request.etag,
            reply=_empty_reply(
                "DeleteNotificationPolicy",
                request.request_id,
                api.DeleteNotificationPolicyResponse,
            ),
        )

    # -- deliveries -------------------------------------------------------------------

    async def ListDeliveries(
        self, request: api.ListDeliveriesRequest, context: Any
    ) -> api.ListDeliveriesResponse:
        """A page of deliveries, newest first, each with its last attempt."""
        tenant_id = caller(READ).tenant_id
        statuses = [
            pb.DeliveryStatus.Name(s).removeprefix("DELIVERY_STATUS_").lower()
            for s in request.statuses
            if s
        ]
        event_types = [cp.ENUM_EVENT_TYPE[int(t)] for t in request.event_types if t]
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
        views = await self._deliveries.list_deliveries(
            tenant_id=tenant_id, after=_after(position), limit=limit + 1, **filters
        )
        page, more = page_of(views, limit)
        return api.ListDeliveriesResponse(
            deliveries=[cd.delivery_to_proto(v.row, v.attempts) for v in page],
            next_page_token=_token(_last([v.row for v in page]), more, filters),
        )

    async def GetDelivery(
        self, request: api.GetDeliveryRequest, context: Any
    ) -> api.GetDeliveryResponse:
        """One delivery with all its attempts."""
        tenant_id = caller(READ).tenant_id
        view = await self._deliveries.get_delivery(
            tenant_id=tenant_id, delivery_id=request.delivery_id
        )
        return api.GetDeliveryResponse(delivery=cd.delivery_to_proto(view.row, view.attempts))

    async def RetryDelivery(
        self, request: api.RetryDeliveryRequest, context: Any
    ) -> api.RetryDeliveryResponse:
        """Queue a FAILED or DEAD delivery for an immediate attempt."""
        tenant_id = caller(WRITE).tenant_id
        reply: IdempotentReply[DeliveryView, api.RetryDeliveryResponse] = IdempotentReply(
            "RetryDelivery",
            request.request_id,
            api.RetryDeliveryResponse,
            lambda view: api.RetryDeliveryResponse(
                delivery=cd.delivery_to_proto(view.row, view.attempts)
            ),
        )
        return await self._deliveries.retry_delivery(
            tenant_id=tenant_id, delivery_id=request.delivery_id, reply=reply
        )
