"""Health and metrics of a long-running service over HTTP: ``/healthz`` (liveness), ``/readyz`` (readiness)
and ``/metrics`` (Prometheus text), served on a daemon thread of the service's own process.

One server for every service: the listener serves its :class:`~sbems.listener.metrics.ListenerMetrics`
registry with it; the webhook receiver and the panel serve a :class:`ServiceHealth` (an ``up`` gauge, the
database check, and for HTTP services request counts and latencies by an ASGI wrapper). The endpoint
listens apart from the service's own port (127.0.0.1 by default), so a reverse proxy publishing the service
does not publish its metrics. docs/operations.md, "Metrics reference", lists every metric.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from sbems.storage.db import StorageError, connect, redact_url

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, dict]]


class HealthServer:
    """Serves the endpoints of ``registry`` on a daemon thread; ``port`` 0 picks a free port (see ``.port``).
    ``/healthz`` (and ``/livez``) answer ``live()``, ``/readyz`` ``ready()``: 200 or 503 with a JSON body."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        live: Check,
        ready: Check,
        name: str = "health",
    ) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/livez", "/readyz"):
                    ok, detail = (ready if path == "/readyz" else live)()
                    body = json.dumps({"ok": ok, **detail}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server API
                log.debug("health: " + format, *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def database_check(database_url: str, connect_timeout_s: int = 2) -> tuple[bool, dict]:
    """Does the database accept a connection now? (a readiness check; opens and closes one connection)"""
    try:
        connect(database_url, connect_timeout_s=connect_timeout_s).close()
    except StorageError as exc:
        return False, {"database_up": False, "database_error": str(exc)}
    return True, {"database_up": True, "database": redact_url(database_url)}


class ServiceHealth:
    """The metrics and checks of one service process named ``service`` (``webhooks``, ``panel``).

    ``live`` is the process's own liveness (default: it answers); readiness is liveness, ``ready`` (e.g. the
    service's port accepts connections) and a database that accepts a connection. ``asgi(app)`` wraps an
    ASGI app to count its HTTP responses."""

    def __init__(
        self, service: str, database_url: str, live: Check | None = None, ready: Check | None = None
    ) -> None:
        self.service = service
        self.database_url = database_url
        self.started_at = time.time()
        self._live = live or (lambda: (True, {}))
        self._ready = ready or (lambda: (True, {}))
        self.registry = r = CollectorRegistry()
        self.up = Gauge(f"sbems_{service}_up", "1 while the service process runs", registry=r)
        self.started = Gauge(
            f"sbems_{service}_start_time_seconds", "Unix time the service started", registry=r
        )
        self.database_up = Gauge(
            f"sbems_{service}_database_up", "1 when the last readiness check reached the database", registry=r
        )
        self.requests = Counter(
            f"sbems_{service}_http_requests", "HTTP requests answered, by status code", ["status"], registry=r
        )
        self.latency = Histogram(
            f"sbems_{service}_http_request_seconds",
            "Time to answer one HTTP request",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.up.set(1)
        self.started.set(self.started_at)

    def liveness(self) -> tuple[bool, dict]:
        ok, detail = self._live()
        return ok, {"service": self.service, "uptime_s": round(time.time() - self.started_at, 1), **detail}

    def readiness(self) -> tuple[bool, dict]:
        live_ok, detail = self.liveness()
        ready_ok, ready_detail = self._ready()
        db_ok, db_detail = database_check(self.database_url)
        self.database_up.set(1 if db_ok else 0)
        return live_ok and ready_ok and db_ok, {**detail, **ready_detail, **db_detail}

    def serve(self, host: str, port: int) -> HealthServer:
        """Start the HTTP endpoint (``port`` 0: any free port; see ``.port`` of the result)."""
        server = HealthServer(
            host, port, self.registry, self.liveness, self.readiness, name=f"{self.service}-health"
        ).start()
        log.info(
            "%s health and metrics on http://%s:%d/{healthz,readyz,metrics}", self.service, host, server.port
        )
        return server

    def asgi(self, app: Any) -> Any:
        """``app`` with every HTTP response counted by status and timed (lifespan and websockets pass)."""
        requests, latency = self.requests, self.latency

        async def counted(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            started = time.perf_counter()
            counted_status = False

            async def send_counted(message):
                nonlocal counted_status
                if message["type"] == "http.response.start":  # counted before the client can see it
                    requests.labels(status=str(message["status"])).inc()
                    counted_status = True
                await send(message)

            try:
                await app(scope, receive, send_counted)
            finally:
                if not counted_status:  # the app failed before answering: the server sends a 500
                    requests.labels(status="500").inc()
                latency.observe(time.perf_counter() - started)

        return counted
