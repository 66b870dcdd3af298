"""Tenant settings that make a bench mesh do the same work as one from before they existed.

Flap damping and storm protection (on by default) change what a trigger does: a re-fire
reopens its ticket, a burst of new problems at one client joins one storm ticket. The
mesh benches measure the pipeline's speed, and the before/after benches compare against
versions that had neither, so their tenants turn both off (a version without the RPC
answers UNIMPLEMENTED and is left as it is). Their own cost is measured with them on.
"""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2

from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api
from triage.tickets.v1 import tickets_service_pb2_grpc as tickets_grpc

#: The settings' paths, as the tickets service names them.
PLAIN_PIPELINE_PATHS = ("flap_damping.enabled", "storm_protection.enabled")


async def plain_pipeline(
    tickets_address: str, tenant_metadata: list[tuple[tuple[str, str], ...]]
) -> int:
    """Turn flap damping and storm protection off for each tenant (its metadata); returns
    how many tenants the service changed (0 on a version without tenant settings)."""
    changed = 0
    async with grpc.aio.insecure_channel(tickets_address) as channel:
        stub = tickets_grpc.TicketsServiceStub(channel)
        for metadata in tenant_metadata:
            request = tickets_api.UpdateTenantSettingsRequest(
                settings=tickets_pb.TenantSettings(
                    flap_damping=tickets_pb.FlapDamping(enabled=False),
                    storm_protection=tickets_pb.StormProtection(enabled=False),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=list(PLAIN_PIPELINE_PATHS)),
            )
            try:
                await stub.UpdateTenantSettings(request, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                return 0
            changed += 1
    return changed
