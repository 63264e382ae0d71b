"""Shared test data: the example site with an outdoor-air sensor, and stored weather."""

from __future__ import annotations

from datetime import UTC, datetime

from sbems.domain.site import Sensor, Site

NOW = datetime(2026, 7, 1, 10, 20, tzinfo=UTC)
TODAY = datetime(2026, 7, 1, tzinfo=UTC)


def with_outdoor_sensor(site: Site) -> Site:
    """The example site whose HQ has an MQTT outdoor-air temperature sensor (no zone)."""
    hq = site.buildings[0]
    outdoor = Sensor(id="outdoor-temp", name="Outdoor air", sensor_type="temperature", unit="celsius")
    building = hq.model_copy(update={"sensors": [*hq.sensors, outdoor]})
    return site.model_copy(update={"buildings": [building, *site.buildings[1:]]})
