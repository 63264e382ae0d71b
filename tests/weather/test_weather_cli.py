"""The issue's check, exactly: ``SBEMS_WEATHER_PROVIDER=open-meteo SBEMS_WEATHER_URL=http://127.0.0.1:PORT
sbems flows run weather --building hq`` stores one row per valid hour, temperature in °C."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sbems.domain.site import entity_uuid
from sbems.storage import entities
from sbems.storage.weather import read_forecast_rows
from tests.weather.fixtures import encode, open_meteo_body
from tests.weather.server import Reply

pytestmark = pytest.mark.flows
REPO = Path(__file__).resolve().parents[2]


def test_sbems_flows_run_weather_stores_the_open_meteo_hours(provider, conn, db_url, example_site, tmp_path):
    entities.upsert_site(conn, site=example_site)
    conn.commit()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    body = open_meteo_body(today, hours=120)  # 120 h: covers now + 72 h at any time of day
    provider.route("/v1/forecast", Reply(body=encode(body)))
    env = {
        **os.environ,
        "SBEMS_WEATHER_PROVIDER": "open-meteo",
        "SBEMS_WEATHER_URL": provider.url,
        "SBEMS_DATABASE_URL": db_url,
        "PYTHONPATH": str(REPO),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # the CLI starts an ephemeral Prefect server; on a loaded machine it needs more than the default 20 s
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": os.environ.get(
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300"
        ),
    }
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "sbems.cli", "flows", "run", "weather", "--building", "hq"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_forecast_rows(conn, building_id=entity_uuid("building", "hq"))
    assert [r["valid_at"] for r in rows] == [today + timedelta(hours=h) for h in range(120)]
    assert [r["temperature_c"] for r in rows] == body["hourly"]["temperature_2m"]  # °C as served
    assert provider.hits("/v1/forecast") == 1
