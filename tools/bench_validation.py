"""Microbenchmark of the request validation every RPC pays (``check_request``).

Usage: ``.venv/bin/python tools/bench_validation.py``. Prints the median and best of five
runs per request shape, for the whole check and for protovalidate alone. Timings depend on
the machine's load; compare them with a grpc.aio unary call (~180 us of server CPU here).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import protovalidate
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from triage.ingest.v1 import ingest_service_pb2 as ingest_api
from triage.ingest.v1 import resources_pb2 as ingest_pb
from triage.rules.v1 import resources_pb2 as rules_pb
from triage.rules.v1 import rules_service_pb2 as rules_api
from triage.runtime.validation import check_request
from triage.tickets.v1 import resources_pb2 as tickets_pb
from triage.tickets.v1 import tickets_service_pb2 as tickets_api

ID = "0193c1a2-1111-7000-8000-000000000001"
NOW = timestamp_pb2.Timestamp(seconds=1_770_000_000)


def requests() -> dict[str, Message]:
    """Typical requests, from a lookup to a batch."""
    alert = ingest_pb.AlertEvent(
        provider=ingest_pb.PROVIDER_GENERIC,
        kind=ingest_pb.ALERT_KIND_TRIGGER,
        series_key="int-1:srv-01:disk",
        device_name="srv-01",
        summary="Disk full",
        message="C: 97% used",
        severity=ingest_pb.SEVERITY_CRITICAL,
        labels={"env": "prod", "site": "hq"},
        occurred_time=NOW,
    )
    return {
        "GetTicket": tickets_api.GetTicketRequest(ticket_id=ID),
        "ListTickets (filters)": tickets_api.ListTicketsRequest(
            page_size=50, statuses=[tickets_pb.TICKET_STATUS_NEW], queue="ops", start_time=NOW
        ),
        "CreateTicket": tickets_api.CreateTicketRequest(
            request_id=ID,
            ticket=tickets_pb.Ticket(
                title="Disk full on srv-01",
                description="C: below 5%",
                priority=tickets_pb.PRIORITY_P2,
                queue="ops",
            ),
        ),
        "CreateRule": rules_api.CreateRuleRequest(
            request_id=ID,
            rule=rules_pb.Rule(
                display_name="disk",
                conditions=rules_pb.Conditions(
                    keywords=["disk", "full"],
                    message_regex="disk (full|low)",
                    label_matchers=[
                        rules_pb.LabelMatcher(
                            name="env", op=rules_pb.LABEL_MATCH_OP_EQUAL, value="prod"
                        )
                    ],
                ),
                actions=rules_pb.Actions(
                    ticket_action=rules_pb.TICKET_ACTION_CREATE_TICKET, queue="ops"
                ),
            ),
        ),
        "IngestAlerts (10 alerts)": ingest_api.IngestAlertsRequest(alerts=[alert] * 10),
    }


def per_call_us(check: Callable[[Message], None], request: Message, calls: int = 5_000) -> float:
    """Mean microseconds of one ``check(request)`` over ``calls`` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        check(request)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    """Print the table."""
    checks: dict[str, Callable[[Message], None]] = {
        "check_request": check_request,
        "protovalidate only": protovalidate.validate,
    }
    for name, request in requests().items():
        for label, check in checks.items():
            runs = [per_call_us(check, request) for _ in range(5)]
            sys.stdout.write(
                f"{name:26s} {label:20s} median {statistics.median(runs):7.1f} us"
                f"  best {min(runs):7.1f} us\n"
            )


if __name__ == "__main__":
    main()
