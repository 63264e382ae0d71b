"""Finding (or starting) the services an entry point needs: PostgreSQL and the MQTT broker.

Order: the URL in settings; else the default on loopback if it answers; else an embedded instance under
the settings' data directory (kept running between commands, so data persist; ``sbems services stop``
stops them).
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from sbems.config import DEFAULT_DATABASE_URL, DEFAULT_MQTT_URL, Settings
from sbems.embedded import MqttBroker, PostgresInstance, port_open

log = logging.getLogger(__name__)

EMBEDDED_PG_PORT = 55432
EMBEDDED_MQTT_PORT = 51883


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def embedded_postgres(settings: Settings) -> PostgresInstance:
    return PostgresInstance(Path(settings.data_dir).resolve() / "postgres", EMBEDDED_PG_PORT)


def resolve_database_url(settings: Settings, *, start_embedded: bool = True) -> str:
    if settings.database_url:
        return settings.database_url
    host, port = host_port(DEFAULT_DATABASE_URL, 5432)
    if port_open(host, port):
        return DEFAULT_DATABASE_URL
    instance = embedded_postgres(settings)
    url = instance.url.rsplit("/", 1)[0] + "/sbems"
    if port_open("127.0.0.1", instance.port):
        return url
    if not start_embedded:
        raise RuntimeError("no PostgreSQL answers: set SBEMS_DATABASE_URL or run `sbems demo`")
    log.warning("no PostgreSQL on %s:%s; starting an embedded one in %s", host, port, instance.data_dir)
    instance.start()
    return url


def resolve_mqtt_url(settings: Settings, *, start_embedded: bool = True) -> str:
    if settings.mqtt_url:
        return settings.mqtt_url
    host, port = host_port(DEFAULT_MQTT_URL, 1883)
    if port_open(host, port):
        return DEFAULT_MQTT_URL
    broker = MqttBroker(Path(settings.data_dir).resolve() / "mqtt", EMBEDDED_MQTT_PORT)
    if port_open("127.0.0.1", broker.port):
        return broker.url
    if not start_embedded:
        raise RuntimeError("no MQTT broker answers: set SBEMS_MQTT_URL or run `sbems demo`")
    log.warning("no MQTT broker on %s:%s; starting an embedded one", host, port)
    broker.start()
    return broker.url


def flow_mqtt_url(mqtt_url: str | None) -> str:
    """The broker a flow run publishes to: its parameter, else the settings' (never starts an embedded one)."""
    if mqtt_url:
        return mqtt_url
    from sbems.config import load_settings

    return resolve_mqtt_url(load_settings(), start_embedded=False)


def flow_database_url(database_url: str | None) -> str:
    """The database a flow run uses: its parameter, else the settings' (never starts an embedded one)."""
    if database_url:
        return database_url
    from sbems.config import load_settings

    return resolve_database_url(load_settings(), start_embedded=False)
