"""The HTTP API's application: FastAPI under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``), routers
per seed section (docs/api.md), errors as problem+json, and ``serve_api`` for ``sbems api``."""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, FastAPI

from sbems.api import (
    routes_alert_rules,
    routes_alerts,
    routes_aliases,
    routes_analytics,
    routes_auth,
    routes_buildings,
    routes_control,
    routes_entities,
    routes_history,
    routes_hvac,
    routes_notify_routes,
    routes_savings,
    routes_schedules,
    routes_sensors,
    routes_thermostats,
    routes_users,
    routes_ws,
)
from sbems.api.deps import ApiConfig
from sbems.api.problems import install_problem_handlers
from sbems.services.health import ServiceHealth
from sbems.services.tokens import secret_problem

log = logging.getLogger(__name__)
PREFIX = "/api/v1"


class ApiSettingsError(ValueError):
    """The API cannot start with these settings (e.g. no signing key)."""


def create_app(
    database_url: str,
    secret: str,
    mqtt_url: str = "mqtt://127.0.0.1:1883",
    mqtt_username: str | None = None,
    mqtt_password: str | None = None,
) -> FastAPI:
    """The API for one database, signing tokens with ``secret`` (at least 32 characters); the WebSocket
    relays the MQTT bus at ``mqtt_url``."""
    problem = secret_problem(secret)
    if problem:
        raise ApiSettingsError(problem)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        bus = getattr(app.state, "live_bus", None)
        if bus is not None:
            bus.close()

    app = FastAPI(
        title="SBEMS API",
        version="1",
        description="Smart Building Energy Management System: buildings, zones, setpoints, alerts, plans.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.config = ApiConfig(database_url, secret, mqtt_url, mqtt_username, mqtt_password)
    install_problem_handlers(app)
    api = APIRouter(prefix=PREFIX)
    api.include_router(routes_aliases.router)  # first: /alerts/rules before /alerts/{alert_id}
    for module in (
        routes_auth,
        routes_buildings,
        routes_hvac,
        routes_sensors,
        routes_alerts,
        routes_history,
        routes_thermostats,
        routes_schedules,
        routes_analytics,
        routes_users,
        routes_control,
        routes_ws,
    ):
        api.include_router(module.router)
    api.include_router(routes_savings.router)
    api.include_router(routes_alert_rules.router)
    api.include_router(routes_notify_routes.router)
    api.include_router(routes_entities.router)
    app.include_router(api)
    return app


def serve_api(
    database_url: str,
    secret: str,
    host: str,
    port: int,
    health: ServiceHealth | None = None,
    *,
    mqtt_url: str = "mqtt://127.0.0.1:1883",
    mqtt_username: str | None = None,
    mqtt_password: str | None = None,
) -> None:
    """Serve until stopped; with ``health``, every response is counted in its metrics."""
    import uvicorn  # the server only, not needed to build or test the app

    app = create_app(database_url, secret, mqtt_url, mqtt_username, mqtt_password)
    uvicorn.run(health.asgi(app) if health else app, host=host, port=port, log_level="warning")
