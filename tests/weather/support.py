"""Shared test data: the example site with an outdoor-air sensor, and stored weather."""

from __future__ import annotations

from datetime import UTC, datetime

from sbems.domain.site import Sensor, Site

NOW = datetime(2026, 7, 1, 10, 20, tzinfo=UTC)
TODAY = datetime(2026, 7, 1, tzinfo=UTC)


def without_outdoor_sensor(site: Site) -> Site:
    """The example site without its outdoor-air sensors (no-zone temperature/humidity sensors)."""
    hq = site.buildings[0]
    sensors = [
        s for s in hq.sensors if s.zone is not None or s.sensor_type not in ("temperature", "humidity")
    ]
    building = hq.model_copy(update={"sensors": sensors})
    return site.model_copy(update={"buildings": [building, *site.buildings[1:]]})


def with_outdoor_sensor(site: Site) -> Site:
    """The example site whose HQ has (only) the MQTT outdoor-air temperature sensor ``outdoor-temp``."""
    hq = without_outdoor_sensor(site).buildings[0]
    outdoor = Sensor(id="outdoor-temp", name="Outdoor air", sensor_type="temperature", unit="celsius")
    building = hq.model_copy(update={"sensors": [*hq.sensors, outdoor]})
    return site.model_copy(update={"buildings": [building, *site.buildings[1:]]})
