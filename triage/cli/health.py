"""``triage health``: the status of the five services and the webhook gateway."""

from __future__ import annotations

import argparse
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from triage.cli.common import CliContext, emit
from triage.mesh import SERVICE_NAMES


def check_grpc(address: str, timeout: float) -> str:
    """SERVING / NOT_SERVING / UNREACHABLE for one gRPC address."""
    channel = grpc.insecure_channel(address)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=timeout
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
    except grpc.RpcError:
        return "UNREACHABLE"
    finally:
        channel.close()


def check_gateway(base_url: str, timeout: float) -> str:
    """SERVING if the gateway is ready, else NOT_SERVING / UNREACHABLE."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/readyz", timeout=timeout)
    except httpx.HTTPError:
        return "UNREACHABLE"
    return "SERVING" if response.status_code == 200 else "NOT_SERVING"


def statuses(ctx: CliContext) -> list[dict[str, Any]]:
    """The status of every component."""
    rows = [
        {
            "component": name,
            "address": ctx.addresses[name],
            "status": check_grpc(ctx.addresses[name], min(ctx.timeout, 3.0)),
        }
        for name in SERVICE_NAMES
    ]
    rows.append(
        {
            "component": "gateway",
            "address": ctx.addresses["gateway"],
            "status": check_gateway(ctx.addresses["gateway"], min(ctx.timeout, 3.0)),
        }
    )
    return rows


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    """Print the status table; exit 1 unless everything is SERVING."""
    rows = statuses(ctx)
    emit(
        ctx,
        rows,
        rows=[[r["component"], r["address"], r["status"]] for r in rows],
        headers=["component", "address", "status"],
    )
    return 0 if all(r["status"] == "SERVING" for r in rows) else 1


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``health``."""
    parser = sub.add_parser("health", parents=parents, help="status of every service")
    parser.set_defaults(handler=run)
