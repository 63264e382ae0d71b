"""The ``fdd`` flow (every 15 min): fault rules over a window of stored data -> alerts -> MQTT."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from sbems.domain.fdd import FddThresholds
from sbems.runtime import flow_database_url, flow_mqtt_url
from sbems.services.fdd import fdd_window, summary_markdown
from sbems.tasks import fdd as t
from sbems.tasks.publish import publish_state


@flow(name="fdd", log_prints=True)
def fdd(
    building_id: str = "hq",
    database_url: str | None = None,
    now_utc: datetime | None = None,
    window_h: float = 24,
    mqtt_url: str | None = None,
    thresholds: FddThresholds | None = None,
) -> dict:
    """Run the FDD rules (``sbems.domain.fdd``) over the last ``window_h`` hours of ``building_id``; store a
    new alert per fault that has no open one, resolve the open FDD alerts whose fault is gone, and publish
    the new alerts on ``sbems/alerts/{severity}``. Units that did not deliver the power their plan asked for
    (``sbems.services.delivery``) are findings too (``PLAN_SHORTFALL``)."""
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    rules = thresholds or FddThresholds()
    window = fdd_window(now, window_h)
    inputs = t.read_fdd_inputs(url, building_id, window[0], window[1], rules)
    # the fault rules, and the units that did not deliver their plan (one alert path: a finding missing
    # from a run resolves its open alert)
    findings = [
        *t.evaluate_fdd_rules(inputs, window[1], rules),
        *t.find_delivery_shortfalls(url, building_id, now),
    ]
    outcome = t.write_fdd_alerts(url, building_id, findings, now, window)
    published = publish_state(flow_mqtt_url(mqtt_url), outcome.messages) if outcome.messages else 0
    summary = {
        "building": building_id,
        "now_utc": now.isoformat(),
        "window_utc": [window[0].isoformat(), window[1].isoformat()],
        "findings": len(findings),
        "raised": [
            {"code": f.code, "subject": f.subject, "severity": f.severity, "message": f.message}
            for f in outcome.raised
        ],
        "still_open": outcome.still_open,
        "resolved": [list(key) for key in outcome.resolved],
        "published": published,
    }
    create_markdown_artifact(
        key=f"fdd-{building_id}",
        markdown=summary_markdown(summary),
        description=f"FDD at {now:%Y-%m-%d %H:%M} UTC",
    )
    return summary
