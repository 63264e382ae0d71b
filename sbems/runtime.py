"""Where the services are: the PostgreSQL server and MQTT broker an entry point uses. Nothing here starts one.

The rule (README, "Services"): only ``sbems demo``, ``sbems services ...`` and the README's scripts start
services (``sbems.local``). Every other entry point resolves them here, in this order: the URL in the
settings; else the default on loopback when it answers; else the embedded one under the settings' data
directory when it already runs; otherwise :class:`ServiceUnavailable`, whose one-line message says how to
start one.
"""

from __future__ import annotations

import random
import socket
import time
from urllib.parse import urlsplit

from sbems.config import DEFAULT_DATABASE_URL, DEFAULT_MQTT_URL, Settings, load_settings


class ServiceUnavailable(RuntimeError):
    """No PostgreSQL server or MQTT broker answers where the settings say; the message says what to do."""


def host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port, 0.3):
            return
        time.sleep(0.05)
    raise ServiceUnavailable(f"nothing answered on {host}:{port} within {timeout_s:.0f} s")


# Ports for servers we start are picked below the kernel's ephemeral range (Linux default 32768-60999),
# where the OS's own choice (bind to port 0) and every outgoing connection take theirs: a port picked
# there can be taken by a client socket before the server binds it (seen as "address already in use"
# in CI). Below it only another pick can collide, and picks are random.
PICK_PORTS = (20000, 32767)


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port free right now for ``kind`` (TCP by default, ``socket.SOCK_DGRAM`` for UDP) on ``host``."""
    rng = random.SystemRandom()
    for _ in range(64):
        port = rng.randint(*PICK_PORTS)
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, kind) as sock:  # the range is crowded: the OS's choice
        sock.bind((host, 0))
        return sock.getsockname()[1]


def embedded_database_url(settings: Settings) -> str:
    """The URL of the embedded PostgreSQL (``sbems services start``) for the SBEMS database."""
    return f"postgresql://postgres@127.0.0.1:{settings.embedded_pg_port}/sbems"


def embedded_mqtt_url(settings: Settings) -> str:
    """The URL of the embedded MQTT broker (``sbems services start``)."""
    return f"mqtt://127.0.0.1:{settings.embedded_mqtt_port}"


def resolve_database_url(settings: Settings) -> str:
    """The configured URL; else 127.0.0.1:5432 if it answers; else the running embedded one; else raise."""
    if settings.database_url:
        return settings.database_url
    host, port = host_port(DEFAULT_DATABASE_URL, 5432)
    if port_open(host, port):
        return DEFAULT_DATABASE_URL
    if port_open("127.0.0.1", settings.embedded_pg_port):
        return embedded_database_url(settings)
    raise ServiceUnavailable(
        f"no PostgreSQL answers on {host}:{port} and no embedded one runs (port "
        f"{settings.embedded_pg_port}): set SBEMS_DATABASE_URL or run `sbems services start`"
    )


def resolve_mqtt_url(settings: Settings) -> str:
    """The configured URL; else 127.0.0.1:1883 if it answers; else the running embedded one; else raise."""
    if settings.mqtt_url:
        return settings.mqtt_url
    host, port = host_port(DEFAULT_MQTT_URL, 1883)
    if port_open(host, port):
        return DEFAULT_MQTT_URL
    if port_open("127.0.0.1", settings.embedded_mqtt_port):
        return embedded_mqtt_url(settings)
    raise ServiceUnavailable(
        f"no MQTT broker answers on {host}:{port} and no embedded one runs (port "
        f"{settings.embedded_mqtt_port}): set SBEMS_MQTT_URL or run `sbems services start`"
    )


def flow_mqtt_url(mqtt_url: str | None) -> str:
    """The broker a flow run publishes to: its parameter, else the settings' (see resolve_mqtt_url)."""
    return mqtt_url or resolve_mqtt_url(load_settings())


def flow_database_url(database_url: str | None) -> str:
    """The database a flow run uses: its parameter, else the settings' (see resolve_database_url)."""
    return database_url or resolve_database_url(load_settings())
