"""Three days of readings for the example site's building (America/New_York): the main meter at 5-min
steps (a daily shape, 40-80 kW, with one 15-min spike to 200 kW, this month's billing peak), Z1's room
temperature and setpoint, and the hourly rollups of the meter; shared by the history and browser tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sbems.domain.site import entity_uuid
from sbems.storage.rollups import write_daily_rollups, write_hourly_rollups

HQ = entity_uuid("building", "hq")
SPIKE_KW = 200.0
TZ = ZoneInfo("America/New_York")


def _sensor(conn, where: str) -> tuple:
    return conn.execute(
        "SELECT s.id, s.zone_id FROM sensors s LEFT JOIN zones z ON z.id = s.zone_id "
        f"WHERE s.building_id = %s AND {where} ORDER BY s.key LIMIT 1",
        (HQ,),
    ).fetchone()


def spike_time(now_utc: datetime) -> datetime:
    """Two hours before ``now_utc`` on the 15-min grid, but not before the building's local month began
    (so the spike is this month's billing peak whenever the test runs)."""
    spike = (now_utc - timedelta(hours=2)).replace(second=0, microsecond=0)
    spike -= timedelta(minutes=spike.minute % 15)
    month_start = now_utc.astimezone(TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return max(spike, month_start.astimezone(UTC))


def write_history(
    conn, now_utc: datetime | None = None, days: int = 3, spike_utc: datetime | None = None
) -> datetime:
    """Write the readings ending at ``now_utc``; returns the spike's start (UTC)."""
    now_utc = (now_utc or datetime.now(UTC)).replace(second=0, microsecond=0)
    now_utc -= timedelta(minutes=now_utc.minute % 5)
    start = now_utc - timedelta(days=days)
    spike = spike_utc or spike_time(now_utc)
    meter, _ = _sensor(conn, "s.sensor_type = 'power' AND s.zone_id IS NULL")
    conn.execute(
        "INSERT INTO energy_readings (time, point_id, building_id, power_kw) "
        "SELECT t, %(p)s, %(b)s, CASE WHEN t >= %(spike)s AND t < %(spike)s + interval '15 min' THEN %(kw)s "
        "ELSE 60 - 20 * cos(2 * pi() * extract(epoch FROM t) / 86400.0) END "
        "FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '5 min') t",
        {"p": meter, "b": HQ, "spike": spike, "kw": SPIKE_KW, "start": start, "end": now_utc},
    )
    temp, zone = _sensor(conn, "s.sensor_type = 'temperature' AND s.protocol = 'mqtt' AND z.key = 'z1'")
    setpoint, _ = _sensor(conn, "s.sensor_type = 'setpoint' AND z.key = 'z1'")
    for sensor, formula in (
        (temp, "23 + 1.5 * sin(2 * pi() * extract(epoch FROM t) / 86400.0)"),
        (
            setpoint,
            "CASE WHEN extract(hour FROM t AT TIME ZONE 'America/New_York') BETWEEN 7 AND 18 "
            "THEN 23.0 ELSE 26.0 END",
        ),
    ):
        conn.execute(
            "INSERT INTO sensor_readings (time, sensor_id, zone_id, value, unit) "
            f"SELECT t, %(s)s, %(z)s, {formula}, 'C' "
            "FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '5 min') t",
            {"s": sensor, "z": zone, "start": start, "end": now_utc},
        )
    # the rollups the maintenance flow keeps, up to the last whole hour
    last_hour = now_utc.replace(minute=0)
    write_hourly_rollups(conn, start_utc=start, end_utc=last_hour, building_id=HQ)
    write_daily_rollups(conn, start_utc=start, end_utc=last_hour, building_id=HQ)
    conn.commit()
    return spike
