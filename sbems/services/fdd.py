"""Fault detection over stored data: read a window, store the findings as alerts (de-duplicated).

The use cases open their own connection and commit when they return (the ``fdd`` flow runs them through
thin tasks, ``sbems.tasks.fdd``). The pure helpers build the frames the rules read, turn findings into
alert rows and MQTT messages, and write the run's summary.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from sbems.data_contracts.messages import AlertMessage
from sbems.data_contracts.topics import QOS, topic_for
from sbems.domain.fdd import (
    POINT_COLUMNS,
    STUCK_SENSOR,
    TELEMETRY_COLUMNS,
    Equipment,
    FddThresholds,
    Finding,
    split_findings,
)
from sbems.domain.site import entity_uuid
from sbems.storage import db
from sbems.storage.alerts import AlertRecord, read_entity_keys, write_alerts
from sbems.storage.fdd import (
    FDD_SOURCE,
    lock_fdd_building,
    read_fdd_equipment,
    read_fdd_points,
    read_fdd_telemetry,
    read_open_fdd_alerts,
    write_resolve_alerts,
)

FDD_ALERT_NAMESPACE = uuid.UUID("0b8f6a3e-2f4d-4c61-9a0e-7d5c3b2a1f90")
RULE_SENSOR_TYPES = ("temperature", "setpoint", "occupancy", "power")  # besides the stuck-sensor types


@dataclass(frozen=True)
class FddInputs:
    points: pd.DataFrame
    telemetry: pd.DataFrame
    equipment: list[Equipment]


@dataclass(frozen=True)
class FddOutcome:
    raised: list[Finding]
    resolved: list[tuple[str, str]]  # (fault code, subject) of the alerts resolved
    still_open: int  # findings whose alert was already open (not raised again)
    messages: list[tuple[str, bytes, int]] = field(default_factory=list)  # (topic, payload, qos)


def fdd_window(now_utc: datetime, window_h: float) -> tuple[datetime, datetime]:
    """[now - window_h, now): the data every rule looks at (each rule may use only its tail)."""
    return now_utc - timedelta(hours=window_h), now_utc


def points_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(POINT_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["value"] = frame["value"].astype(float)
    return frame


def telemetry_frame(rows: Sequence[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(TELEMETRY_COLUMNS))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    for column in ("power_kw", "compressor_speed_pct"):
        frame[column] = frame[column].astype(float)
    return frame


def read_fdd_inputs(
    database_url: str, building_id: str, start_utc: datetime, end_utc: datetime, thresholds: FddThresholds
) -> FddInputs:
    b_id = entity_uuid("building", building_id)
    types = sorted(set(RULE_SENSOR_TYPES) | set(thresholds.stuck_epsilon))
    with db.connect(database_url) as conn:
        points = read_fdd_points(
            conn, building_id=b_id, start_utc=start_utc, end_utc=end_utc, sensor_types=types
        )
        telemetry = read_fdd_telemetry(conn, building_id=b_id, start_utc=start_utc, end_utc=end_utc)
        equipment = [Equipment(**row) for row in read_fdd_equipment(conn, building_id=b_id)]
    return FddInputs(points_frame(points), telemetry_frame(telemetry), equipment)


def alert_type_of(finding: Finding) -> str:
    return "data_quality" if finding.code == STUCK_SENSOR else "fault"


def alert_of(
    finding: Finding,
    building_key: str,
    now_utc: datetime,
    window_utc: tuple[datetime, datetime],
    entity_ids: dict[str, dict],
) -> tuple:
    """The alert row and MQTT message of a finding; the id is stable for the same finding and run time."""
    alert_id = uuid.uuid5(
        FDD_ALERT_NAMESPACE, f"{building_key}/{finding.code}/{finding.subject}/{now_utc.isoformat()}"
    )
    zone_id = entity_ids["zones"].get(finding.zone) if finding.zone else None
    unit_id = entity_ids["units"].get(finding.hvac_unit) if finding.hvac_unit else None
    metadata = {
        "source": FDD_SOURCE,
        "fault_code": finding.code,
        "subject": finding.subject,
        "since_utc": finding.since_utc.isoformat() if finding.since_utc else None,
        "window_utc": [window_utc[0].isoformat(), window_utc[1].isoformat()],
    }
    record = AlertRecord(
        alert_id,
        alert_type_of(finding),
        finding.severity,
        finding.title,
        finding.message,
        entity_ids["building"],
        zone_id,
        unit_id,
        None,
        finding.metric_name,
        finding.threshold_value,
        finding.actual_value,
        created_at=now_utc,
        metadata=metadata,
    )
    message = AlertMessage(
        alert_id=str(alert_id),
        timestamp=now_utc,
        severity=finding.severity,
        alert_type=alert_type_of(finding),
        title=finding.title[:255],
        description=finding.message,
        building_id=building_key,
        zone_id=finding.zone,
        hvac_unit_id=finding.hvac_unit,
        metric_name=finding.metric_name,
        threshold_value=finding.threshold_value,
        actual_value=finding.actual_value,
    )
    return record, (topic_for("alerts", finding.severity), message.to_json(), QOS["fault"])


def write_fdd_alerts(
    database_url: str,
    building_id: str,
    findings: list[Finding],
    now_utc: datetime,
    window_utc: tuple[datetime, datetime],
) -> FddOutcome:
    """In one transaction (locked per building): raise the findings that have no open alert yet and
    resolve the open FDD alerts whose finding is gone. Returns what changed and the messages to publish."""
    b_id = entity_uuid("building", building_id)
    with db.connect(database_url) as conn, conn.transaction():
        lock_fdd_building(conn, building_id=b_id)
        keys = read_entity_keys(conn)
        entity_ids = {
            "building": b_id,
            "zones": {z: z_id for (b, z), z_id in keys.zones.items() if b == building_id},
            "units": {u: u_id for (b, u), (u_id, _) in keys.hvac_units.items() if b == building_id},
        }
        open_alerts = read_open_fdd_alerts(conn, building_id=b_id)
        new, cleared = split_findings(findings, open_alerts)
        alerts = [alert_of(f, building_id, now_utc, window_utc, entity_ids) for f in new]
        stored = write_alerts(conn, alerts=[record for record, _ in alerts])
        write_resolve_alerts(
            conn, alert_ids=[i for key in sorted(cleared) for i in open_alerts[key]], at=now_utc
        )
    raised = [f for f, (record, _) in zip(new, alerts, strict=True) if record.id in stored]
    messages = [message for record, message in alerts if record.id in stored]
    return FddOutcome(raised, sorted(cleared), len(findings) - len(new), messages)


def summary_markdown(summary: dict) -> str:
    lines = [
        f"FDD of {summary['building']}, window {summary['window_utc'][0]} to {summary['window_utc'][1]}",
        "",
        f"- findings: {summary['findings']}, raised: {len(summary['raised'])}, already open: "
        f"{summary['still_open']}, resolved: {len(summary['resolved'])}, published: {summary['published']}",
    ]
    if summary["raised"]:
        lines += ["", "| fault | subject | severity | message |", "|---|---|---|---|"]
        lines += [
            f"| {r['code']} | {r['subject']} | {r['severity']} | {r['message']} |" for r in summary["raised"]
        ]
    lines += [f"- resolved {code} on {subject}" for code, subject in summary["resolved"]]
    return "\n".join(lines)
