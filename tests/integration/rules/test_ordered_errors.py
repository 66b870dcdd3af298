"""Routing rules and correlation rules answer their CRUD errors the same way, each in its own
words: the status, the ErrorInfo reason, the message and the field a violation names; a
page token of one list is no token of the other; a retried delete gets its first answer.
On the real PostgreSQL and NATS."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.rules.harness import Rules, token
from tests.integration.rules.test_api import violations
from triage.rules.v1 import correlation_pb2 as cpb
from triage.rules.v1 import resources_pb2 as pb
from triage.rules.v1 import rules_service_pb2 as api

pytestmark = pytest.mark.integration
READ, WRITE = "rules:read", "rules:write"


@dataclass(frozen=True)
class Kind:
    """How the API spells one kind of rule: its RPCs, messages and fields."""

    field: str
    noun: str
    reason: str
    message: Callable[[str], Any]
    requests: Any
    rpc: Callable[[str], str]
    listed: str


def _rule(name: str) -> pb.Rule:
    return pb.Rule(display_name=name, conditions=pb.Conditions(conditions=["disk.full"]))


def _correlation(name: str) -> cpb.CorrelationRule:
    return cpb.CorrelationRule(
        display_name=name,
        conditions=pb.Conditions(conditions=["device.offline"]),
        group_by=["client_id"],
        window=Duration(seconds=600),
    )


ROUTING = Kind(
    field="rule",
    noun="rule",
    reason="RULE",
    message=_rule,
    requests=api,
    rpc=lambda verb: f"{verb}Rule",
    listed="rules",
)
CORRELATION = Kind(
    field="correlation_rule",
    noun="correlation rule",
    reason="CORRELATION_RULE",
    message=_correlation,
    requests=cpb,
    rpc=lambda verb: f"{verb}CorrelationRule",
    listed="correlation_rules",
)


def reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return str(info.reason)


async def failed(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The error a call fails with."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


class Api:
    """One kind's RPCs as one tenant calls them."""

    def __init__(self, rules: Rules, tenant: str, kind: Kind) -> None:
        self.rules, self.tenant, self.kind = rules, tenant, kind

    def call(self, verb: str, scope: str, **fields: Any) -> Awaitable[Any]:
        """Call ``<verb><Kind>`` (``List``/``Reorder``: the plural) with ``fields``."""
        name = self.kind.rpc(verb) + ("s" if verb in ("List", "Reorder") else "")
        request = getattr(self.kind.requests, f"{name}Request")(**fields)
        method = getattr(self.rules.stub, name)
        result: Awaitable[Any] = method(request, metadata=token(self.tenant, scope))
        return result

    async def create(self, name: str) -> Any:
        """A new rule named ``name``."""
        reply = await self.call("Create", WRITE, **{self.kind.field: self.kind.message(name)})
        return getattr(reply, self.kind.field)

    def update(self, rule: Any, *paths: str) -> Awaitable[Any]:
        """Update the masked ``paths`` of ``rule``."""
        return self.call(
            "Update", WRITE, **{self.kind.field: rule, "update_mask": FieldMask(paths=list(paths))}
        )


@pytest.mark.parametrize("kind", [ROUTING, CORRELATION], ids=["routing", "correlation"])
async def test_crud_errors_name_the_kind(rules: Rules, tenant: str, kind: Kind) -> None:
    """Name taken, not found, stale etag, an incomplete reorder and a stale rule-set version
    each answer with their status, reason and words for this kind."""
    calls = Api(rules, tenant, kind)
    first = await calls.create("a")
    second = await calls.create("b")

    taken = await failed(calls.create("a"))
    assert (taken.code(), reason(taken), taken.details()) == (
        grpc.StatusCode.ALREADY_EXISTS,
        f"{kind.reason}_NAME_TAKEN",
        f"a {kind.noun} named 'a' exists",
    )
    renamed = type(second)(id=second.id, etag=second.etag, display_name="a")
    taken = await failed(calls.update(renamed, "display_name"))
    assert (taken.code(), reason(taken)) == (
        grpc.StatusCode.ALREADY_EXISTS,
        f"{kind.reason}_NAME_TAKEN",
    )

    missing = str(uuid.uuid4())
    for error in (
        await failed(calls.call("Get", READ, **{f"{kind.field}_id": missing})),
        await failed(calls.call("Delete", WRITE, **{f"{kind.field}_id": missing})),
    ):
        assert (error.code(), reason(error), error.details()) == (
            grpc.StatusCode.NOT_FOUND,
            f"{kind.reason}_NOT_FOUND",
            f"{kind.noun} {missing} not found",
        )

    stale = type(first)(id=first.id, etag='W/"99"', description="x")
    error = await failed(calls.update(stale, "description"))
    assert (error.code(), reason(error), error.details()) == (
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
        "the resource changed since it was read; read it again",
    )

    error = await failed(calls.call("Reorder", WRITE, **{f"{kind.field}_ids": [first.id]}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error) == {
        f"{kind.field}_ids": f"must list every {kind.noun} of the tenant exactly once"
    }
    error = await failed(
        calls.call(
            "Reorder",
            WRITE,
            **{f"{kind.field}_ids": [second.id, first.id], "expected_rule_set_version": 1},
        )
    )
    assert (error.code(), reason(error), error.details()) == (
        grpc.StatusCode.ABORTED,
        "RULE_SET_VERSION_MISMATCH",
        # Two creates made versions 1 and 2; the refused writes bumped nothing.
        "rule set is at version 2, not 1",
    )


async def test_a_page_token_of_one_kind_is_refused_by_the_other(rules: Rules, tenant: str) -> None:
    """Routing and correlation lists bind their tokens to the kind: another's is refused."""
    routing, correlation = Api(rules, tenant, ROUTING), Api(rules, tenant, CORRELATION)
    for name in ("a", "b"):
        await routing.create(name)
        await correlation.create(name)
    tokens = {}
    for calls in (routing, correlation):
        page = await calls.call("List", READ, page_size=1)
        assert len(getattr(page, calls.kind.listed)) == 1 and page.next_page_token
        tokens[calls.kind.field] = page.next_page_token
        second = await calls.call("List", READ, page_size=1, page_token=page.next_page_token)
        assert len(getattr(second, calls.kind.listed)) == 1
    for calls, other in ((routing, "correlation_rule"), (correlation, "rule")):
        error = await failed(calls.call("List", READ, page_size=1, page_token=tokens[other]))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("kind", [ROUTING, CORRELATION], ids=["routing", "correlation"])
async def test_a_retried_delete_gets_its_first_answer(
    rules: Rules, tenant: str, kind: Kind
) -> None:
    """A delete retried with its request_id answers as the first time, though the rule is
    gone; a new request_id is refused with NOT_FOUND."""
    calls = Api(rules, tenant, kind)
    rule = await calls.create("a")
    request_id = str(uuid.uuid4())
    fields = {f"{kind.field}_id": rule.id, "request_id": request_id}
    first = await calls.call("Delete", WRITE, **fields)
    again = await calls.call("Delete", WRITE, **fields)
    assert again == first and first.rule_set_version > 0
    error = await failed(calls.call("Delete", WRITE, **{**fields, "request_id": str(uuid.uuid4())}))
    assert error.code() == grpc.StatusCode.NOT_FOUND
