"""SimulateCorrelation: the result as the response."""

from __future__ import annotations

from google.protobuf import duration_pb2

from services.rules.domain.incidents import CorrelationSimulation
from triage.rules.v1 import correlation_pb2 as pb
from triage.runtime import to_timestamp

DEFAULT_INCIDENTS = 100


def correlation_simulation_response(
    result: CorrelationSimulation, max_incidents: int
) -> pb.SimulateCorrelationResponse:
    """The response of a simulation, listing at most ``max_incidents`` (0: the default)."""
    report = result.report
    shown = report.incidents[: max_incidents or DEFAULT_INCIDENTS]
    incidents = []
    for incident in shown:
        window = duration_pb2.Duration()
        window.FromTimedelta(incident.window)
        incidents.append(
            pb.SimulatedIncident(
                group_key=incident.group_key,
                rule_id=incident.rule_id,
                rule_name=incident.rule_name,
                start_time=to_timestamp(incident.start),
                window=window,
                members=incident.members,
                series=len(incident.series),
                tickets_merged=incident.tickets_merged,
                primary_alert_id=incident.primary_alert_id,
                group_values=[pb.GroupValue(field=f, value=v) for f, v in incident.values],
            )
        )
    return pb.SimulateCorrelationResponse(
        incidents=incidents,
        incident_count=len(report.incidents),
        alerts_evaluated=report.alerts,
        correlated_alerts=report.correlated,
        tickets_without_correlation=report.tickets_without,
        tickets_with_correlation=report.tickets_with,
        tickets_saved=report.tickets_saved,
        truncated=result.truncated,
        rule_set_version=result.rule_set_version,
    )
