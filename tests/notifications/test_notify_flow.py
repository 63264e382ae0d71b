"""The ``notify`` flow (what the deployment runs every minute) is one delivery pass for its building."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sbems.flows.notify import notify
from sbems.services.notifications import notify_config, raise_alert

pytestmark = pytest.mark.flows


def test_the_notify_flow_sends_what_the_raise_queued(
    prefect_harness, site_db_url, mqtt_url, recorder, monkeypatch
):
    monkeypatch.setenv("SBEMS_NOTIFY_URLS", recorder.url())  # the tasks read it from the settings
    config = notify_config(recorder.url(), 30)
    raise_alert(site_db_url, mqtt_url, config, building_key="hq", severity="warning", title="Filter dirty")
    summary = notify(building_id="hq", database_url=site_db_url, now_utc=datetime.now(UTC))
    assert summary == {"building": "hq", "routed": 0, "queued": 0, "escalated": 0, "sent": 1}
    assert recorder.titles() == ["[warning] hq: Filter dirty"]
    again = notify(building_id="hq", database_url=site_db_url, now_utc=datetime.now(UTC))
    assert again == {"building": "hq", "routed": 0, "queued": 0, "escalated": 0}
    assert len(recorder.posts) == 1
