"""Starting and stopping the embedded services (``sbems services start|stop`` and ``sbems demo``).

This is the only place that starts a PostgreSQL server or MQTT broker for SBEMS commands (the rule is in
:mod:`sbems.runtime` and the README). The embedded PostgreSQL lives in ``<data dir>/postgres``, the broker
in ``<data dir>/mqtt``; both listen on 127.0.0.1 at the settings' embedded ports and keep running between
commands, so data persist, until ``sbems services stop``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sbems.config import Settings
from sbems.local.embedded import MqttBroker, PostgresInstance
from sbems.runtime import (
    ServiceUnavailable,
    embedded_database_url,
    embedded_mqtt_url,
    port_open,
    resolve_database_url,
    resolve_mqtt_url,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceState:
    name: str
    url: str
    started: bool  # False: it was already running


def embedded_postgres(settings: Settings) -> PostgresInstance:
    return PostgresInstance(Path(settings.data_dir).resolve() / "postgres", settings.embedded_pg_port)


def embedded_broker(settings: Settings) -> MqttBroker:
    return MqttBroker(Path(settings.data_dir).resolve() / "mqtt", settings.embedded_mqtt_port)


def start_postgres(settings: Settings) -> ServiceState:
    """Start the embedded PostgreSQL unless it already answers (idempotent)."""
    instance = embedded_postgres(settings)
    running = port_open("127.0.0.1", instance.port)
    if not running:
        log.info("starting the embedded PostgreSQL in %s", instance.data_dir)
        instance.start()
    return ServiceState("PostgreSQL", embedded_database_url(settings), started=not running)


def start_broker(settings: Settings) -> ServiceState:
    """Start the embedded MQTT broker unless it already answers (idempotent)."""
    broker = embedded_broker(settings)
    running = port_open("127.0.0.1", broker.port)
    if not running:
        log.info("starting the embedded MQTT broker in %s", broker.work_dir)
        broker.start()
    return ServiceState("MQTT broker", embedded_mqtt_url(settings), started=not running)


def start_services(settings: Settings) -> list[ServiceState]:
    """``sbems services start``: the embedded PostgreSQL and broker."""
    return [start_postgres(settings), start_broker(settings)]


def stop_services(settings: Settings) -> list[str]:
    """``sbems services stop``: stop the embedded PostgreSQL and broker; returns what was stopped."""
    instance = embedded_postgres(settings)
    broker = embedded_broker(settings)
    stopped = []
    if (instance.data_dir / "postmaster.pid").exists():
        instance.stop()
        stopped.append(f"embedded PostgreSQL in {instance.data_dir}")
    if broker.pid_file.exists():
        broker.stop()
        stopped.append(f"embedded MQTT broker in {broker.work_dir}")
    return stopped


def ensure_database_url(settings: Settings) -> str:
    """``sbems demo``: the database :func:`sbems.runtime.resolve_database_url` finds, else start one."""
    try:
        return resolve_database_url(settings)
    except ServiceUnavailable:
        log.warning("no PostgreSQL answers; starting an embedded one")
        return start_postgres(settings).url


def ensure_mqtt_url(settings: Settings) -> str:
    """``sbems demo``: the broker :func:`sbems.runtime.resolve_mqtt_url` finds, else start one."""
    try:
        return resolve_mqtt_url(settings)
    except ServiceUnavailable:
        log.warning("no MQTT broker answers; starting an embedded one")
        return start_broker(settings).url
