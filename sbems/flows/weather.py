"""The ``weather`` flow (hourly): fetch the provider's forecast, validate, store it (or quarantine the
refusal), store observations, apply retention; the artifact says the source, issue time and horizon."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from sbems.runtime import flow_database_url
from sbems.tasks import weather as t
from sbems.tasks.site import read_site_from_db
from sbems.weather.forecast import WeatherRefused


@flow(name="weather", log_prints=True)
def weather(
    building_id: str = "hq",
    database_url: str | None = None,
    now_utc: datetime | None = None,
    provider: str | None = None,
    base_url: str | None = None,
    horizon_h: float = 72.0,
) -> dict:
    """Fetch ``horizon_h`` hours of forecast from ``provider`` (default ``SBEMS_WEATHER_PROVIDER``; ``tmy``
    fetches nothing: the typical year needs no storing) at ``base_url`` (default ``SBEMS_WEATHER_URL``)."""
    url = flow_database_url(database_url)
    now = now_utc or datetime.now(UTC)
    settings = t.read_weather_settings(provider, base_url)
    building = read_site_from_db(url).building(building_id)
    summary: dict = {"building": building_id, "provider": settings.provider}
    forecast = None
    if settings.provider == "tmy":
        summary |= {"status": "typical-year", "reason": "SBEMS_WEATHER_PROVIDER=tmy: no forecast service"}
    else:
        fetched = t.get_forecast(settings, building, now, horizon_h)
        if isinstance(fetched, WeatherRefused):
            t.write_refusal(url, building_id, fetched)
            summary |= {"status": "refused", "reason": fetched.reason}
        else:
            forecast = fetched
            written = t.write_forecast(url, building_id, forecast)
            summary |= {"status": "ok", "written": written, **forecast.summary()}
    summary["observations"] = t.write_observations(url, building, now, forecast)
    summary["expired"] = t.delete_expired_weather(url, now, settings.retention_days)
    create_markdown_artifact(
        key=f"weather-{building_id}",
        markdown=_markdown(summary),
        description=f"Weather at {now:%Y-%m-%d %H:%M} UTC",
    )
    print(f"weather {building_id}: {summary['status']} {summary.get('reason', '')}".rstrip())
    return summary


def _markdown(summary: dict) -> str:
    rows = [("status", summary["status"]), ("provider", summary["provider"])]
    rows += [
        (key, summary[key])
        for key in ("reason", "source", "issued_at", "horizon_h", "hours", "written")
        if key in summary
    ]
    rows += [("observations", summary["observations"]), ("expired rows", summary["expired"])]
    return "\n".join(["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows)])
