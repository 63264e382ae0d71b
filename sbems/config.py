"""Typed settings from ``SBEMS_*`` environment variables (and an optional ``.env``).

Settings are built only by entry points (CLI, flows' entry, panel) via :func:`load_settings`;
nothing here runs at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sbems.domain.control import bacnet_priority_problem
from sbems.domain.secret_box import SecretBoxError, reveal

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sbems"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names the environment variable."""


# secret settings that may be stored encrypted (fernet:...) under SBEMS_SECRET_KEY
SEALABLE = ("thermostat_api_key", "webhook_secret", "api_secret", "mqtt_password", "notify_urls")


class Settings(BaseSettings):
    """All runtime configuration; every field maps to ``SBEMS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="SBEMS_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset = 127.0.0.1:5432 if it answers, else the embedded one if it runs",
    )
    mqtt_url: str | None = Field(
        default=None,
        description="mqtt://host:port or mqtts://host:port; unset = 127.0.0.1:1883, else the embedded one",
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = None
    prefect_api_url: str | None = None
    site_file: Path = Path("examples/site.yaml")
    timezone: str = "UTC"
    data_dir: Path = Path(".sbems")
    # the embedded services (`sbems services start`, `sbems demo`) listen on 127.0.0.1 at these ports
    embedded_pg_port: int = Field(default=55432, ge=1, le=65535)
    embedded_mqtt_port: int = Field(default=51883, ge=1, le=65535)
    # HTTP services (docs/operations.md): 127.0.0.1 behind a TLS reverse proxy on the host; 0.0.0.0 in a
    # container or behind a proxy on another host. /healthz, /readyz, /metrics listen apart (0: none).
    ui_host: str = Field(default="127.0.0.1", description="bind address of the panel (sbems ui)")
    ui_port: int = Field(default=8501, ge=1, le=65535)
    ui_health_port: int = Field(default=9110, ge=0, le=65535, description="panel health/metrics; 0: none")
    webhooks_host: str = Field(default="127.0.0.1", description="bind address of the webhook receiver")
    webhooks_port: int = Field(default=8088, ge=1, le=65535)
    webhooks_health_port: int = Field(default=9109, ge=0, le=65535, description="webhooks health; 0: none")
    poller_health_port: int = Field(default=9112, ge=0, le=65535, description="poller health; 0: none")
    health_host: str = Field(default="127.0.0.1", description="bind address of the panel's/webhooks' health")
    api_host: str = Field(default="127.0.0.1", description="bind address of the HTTP API (sbems api)")
    api_port: int = Field(default=8080, ge=1, le=65535)
    # secrets have no default: `sbems demo` sets its own; elsewhere a thermostat without a key fails when used
    thermostat_api_key: SecretStr | None = Field(default=None, description="thermostat REST API key")
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC key of thermostat webhooks (a thermostat's own variable wins)"
    )
    api_secret: SecretStr | None = Field(
        default=None, description="HS256 key of the API's access tokens (>= 32 characters); no default"
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key that opens secrets stored as fernet:... (docs/security.md)"
    )
    bacnet_local_address: str = "127.0.0.1/8"
    bacnet_local_port: int = Field(default=47809, ge=1, le=65535)
    bacnet_write_priority: int = Field(default=10, ge=1, le=16)
    # retention (seed §4.4), applied by the maintenance flow
    retention_raw_days: int = Field(
        default=365, ge=1, description="sensor_readings, hvac_telemetry; the weather tables"
    )
    retention_energy_days: int = Field(default=730, ge=1, description="energy_readings (raw)")
    retention_hourly_days: int = Field(default=1095, ge=1, description="energy_readings_hourly")
    retention_daily_days: int = Field(default=3650, ge=1, description="energy_readings_daily")
    # savings flow: avoided CO2 per avoided kWh. Default: U.S. average of utility-scale generation in 2022,
    # 1.65 billion t CO2 / 4.23 trillion kWh = 0.39 kg/kWh (0.86 lb/kWh; U.S. EIA FAQ "How much carbon dioxide
    # is produced per kilowatthour of U.S. electricity generation?"). Set the regional (eGRID subregion) or
    # marginal factor that applies to the site.
    grid_co2_kg_per_kwh: float = Field(default=0.39, ge=0, le=2, description="grid CO2 factor, kg per kWh")
    # backups (`sbems db backup`, the daily `backup` flow): dumps in backup_dir, newest per day/ISO week kept
    backup_dir: Path = Path(".sbems/backups")
    backup_keep_daily: int = Field(default=7, ge=1, description="newest dump of each of the last N days kept")
    backup_keep_weekly: int = Field(default=4, ge=0, description="newest dump of each of the last M weeks")
    backup_pg_bin_dir: Path | None = Field(
        default=None,
        description="directory of pg_dump/pg_restore; unset = the oldest one >= the server found",
    )
    # alert notifications (docs/notifications.md): apprise URLs, comma-separated, each optionally tagged with
    # ?tag=a,b; secret (tokens, passwords), so never printed or stored -- the database keeps a hash and a mask
    notify_urls: SecretStr | None = Field(default=None, description="apprise URLs for alert notifications")
    notify_escalate_min: int = Field(
        default=30, ge=0, le=10080, description="re-send an unacknowledged alert after this long (0: never)"
    )
    # weather flow (docs/weather.md): the forecast service; "tmy" = the typical year only (no service)
    weather_provider: Literal["tmy", "open-meteo", "nws"] = "tmy"
    weather_url: str | None = Field(
        default=None, description="base URL of the provider; unset = its public API"
    )
    weather_user_agent: str = Field(
        default="sbems (weather forecasts for building control)",
        description="User-Agent sent to the provider (NWS asks for a contact in it)",
    )
    weather_max_age_h: float = Field(
        default=12.0,
        gt=0,
        le=168,
        description="a stored forecast older than this is stale: consumers fall back to persistence",
    )

    @model_validator(mode="after")
    def _open_sealed_secrets(self) -> Settings:
        """Secrets stored as ``fernet:<token>`` are decrypted with ``secret_key`` (clear error without it)."""
        key = self.secret_key.get_secret_value() if self.secret_key else None
        for name in SEALABLE:
            value = getattr(self, name)
            if value is not None:
                try:
                    plain = reveal(value.get_secret_value(), key, f"SBEMS_{name.upper()}")
                except SecretBoxError as exc:
                    raise ValueError(str(exc)) from None
                object.__setattr__(self, name, SecretStr(plain))
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mqtt://", "mqtts://")):
            raise ValueError("must start with mqtt:// or mqtts://")
        return value

    @field_validator("weather_url")
    @classmethod
    def _check_weather_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("bacnet_write_priority")
    @classmethod
    def _check_priority(cls, value: int) -> int:
        if (problem := bacnet_priority_problem(value)) is not None:
            raise ValueError(problem)
        return value


def load_settings(**overrides: object) -> Settings:
    """Build settings; a bad value raises :class:`SettingsError` naming the variable in one line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a check across fields names its variables itself
            raise SettingsError(message) from exc
        raise SettingsError(f"SBEMS_{str(first['loc'][0]).upper()}: {message}") from exc
