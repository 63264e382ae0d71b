"""The ``sbems`` command: ``demo | db | site | flows | sim | listener | users | ui | webhooks | api |
services | alerts | serve``.

Entry points build settings (fail fast with one line naming the variable) and connections; nothing
else in the package does so at import time.

Services (README, "Services"): only ``sbems demo`` and ``sbems services start`` start a PostgreSQL server
or MQTT broker. Every other command uses the configured URLs, else the defaults on loopback, else an
embedded one already running (:mod:`sbems.runtime`), and otherwise stops with one line saying how to start
one (exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import signal
import subprocess
import sys
import typing
import urllib.request
from pathlib import Path

from sbems import cli_admin, cli_poller, cli_savings
from sbems.api.app import serve_api
from sbems.config import Settings, SettingsError, load_settings
from sbems.data_contracts.messages import AlertMessage
from sbems.deployments import SCHEDULES, available_flows, load_flow, serve_all
from sbems.deployments.supervisor import SERVICES, RestartPolicy, Supervisor, child_specs, site_environment
from sbems.domain.site import SiteFileError, dump_site_yaml, read_site_file
from sbems.listener.__main__ import main as listener_main
from sbems.local.panel import ui_command
from sbems.local.services import start_services, stop_services
from sbems.runtime import ServiceUnavailable, port_open, resolve_database_url, resolve_mqtt_url
from sbems.services.backup import backup_database, restore_database
from sbems.services.health import ServiceHealth
from sbems.services.tokens import secret_problem
from sbems.services.webhooks import serve_webhooks
from sbems.storage import db, entities
from sbems.storage.db import StorageError

QUIET_LOGGERS = ("alembic", "httpx", "httpcore")
_LOOPBACK, _ANY_ADDRESS = "127.0.0.1", ("0.0.0.0", "", "::")


def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    if args.action == "upgrade":
        db.upgrade(url)
        print(f"database {db.redact_url(url)} at revision {db.current_revision(url)}")
    elif args.action == "backup":
        size_b = backup_database(url, Path(args.output), pg_bin_dir=settings.backup_pg_bin_dir)
        print(f"dumped {db.redact_url(url)} to {args.output} ({size_b / 2**20:.1f} MiB)")
    elif args.action == "restore":
        restore_database(url, Path(args.path), force=args.force, pg_bin_dir=settings.backup_pg_bin_dir)
        print(f"restored {args.path} into {db.redact_url(url)} (revision {db.current_revision(url)})")
    else:
        print(db.current_revision(url) or "empty (no migrations applied)")
    return 0


def _cmd_site(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    if args.action == "import":
        from sbems.services.schedule_edits import import_site

        site = read_site_file(args.file)
        result = import_site(url, site, overwrite_panel_edits=args.overwrite_panel_edits)
        print(f"imported {args.file}: " + ", ".join(f"{v} {k}" for k, v in result.counts.items()))
        for c in result.conflicts:
            what = "overwritten by the file" if not result.kept_panel_edits else "kept the edited version"
            print(
                f"conflict: {c.kind} {c.key} was changed in the panel or API by {c.edited_by} "
                f"at {c.edited_at}; "
                f"the file differs in {', '.join(c.fields)}: {what}"
            )
        if result.conflicts and result.kept_panel_edits:
            print("re-run with --overwrite-panel-edits to apply the file's values instead")
        return 0
    with db.connect(url) as conn:
        text = dump_site_yaml(entities.read_site(conn))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from sbems.local.demo import run_demo  # lazy: the simulator and pandas, needed by the demo only

    return run_demo(settings, site_file=Path(args.site), duration_s=args.duration)


def _cmd_flows(args: argparse.Namespace, settings: Settings) -> int:
    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    if args.action == "list":
        built = set(available_flows())
        for name, schedule in SCHEDULES.items():
            state = "" if name in built else "  (not built yet)"
            print(f"{name:10s} every {schedule.interval}  {schedule.description}{state}")
        return 0
    if args.action == "serve":
        names = args.only or None
        if args.skip:  # e.g. --skip poll where `sbems poller` runs the poll in one long-lived process
            names = [name for name in (names or available_flows()) if name not in args.skip]
        serve_all(args.building, names)
        return 0
    if not args.name:
        print("sbems flows run: name a flow (sbems flows list)", file=sys.stderr)
        return 2
    try:
        flow_obj = load_flow(args.name)
    except (ImportError, AttributeError, KeyError):
        print(f"sbems: flow {args.name!r} is not available (sbems flows list)", file=sys.stderr)
        return 2
    # where the run stores and publishes, checked before it starts (one line when nothing answers)
    resolve_database_url(settings)
    if "mqtt_url" in inspect.signature(flow_obj.fn).parameters:
        resolve_mqtt_url(settings)
    result = flow_obj(building_id=args.building[0])
    if inspect.iscoroutine(result):  # async flows (poll) run in their own event loop
        result = asyncio.run(result)
    print(json.dumps(result, default=str, indent=2))
    return 0


def _cmd_ui(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    host, port = args.host or settings.ui_host, args.port or settings.ui_port
    print(f"control panel on http://{host}:{port}")
    panel = subprocess.Popen(ui_command(port, host), env={**os.environ, "SBEMS_DATABASE_URL": url})
    signal.signal(signal.SIGTERM, lambda signum, frame: panel.terminate())  # also as a container's PID 1
    health_port = settings.ui_health_port if args.health_port is None else args.health_port
    if health_port:
        probe = f"http://{_LOOPBACK if host in _ANY_ADDRESS else host}:{port}/_stcore/health"
        ServiceHealth("panel", url, live=lambda: _streamlit_alive(panel, probe)).serve(
            settings.health_host, health_port
        )
    try:
        return panel.wait()
    except KeyboardInterrupt:
        panel.terminate()
        return panel.wait()


def _streamlit_alive(panel: subprocess.Popen, probe_url: str) -> tuple[bool, dict]:
    if panel.poll() is not None:
        return False, {"streamlit": f"exited with status {panel.returncode}"}
    try:
        with urllib.request.urlopen(probe_url, timeout=3) as response:
            return True, {"streamlit": response.read().decode(errors="replace").strip()}
    except OSError as exc:
        return False, {"streamlit": f"{probe_url}: {exc}"}


def _port_check(host: str, port: int) -> tuple[bool, dict]:
    listening = port_open(host, port)
    return listening, {"listening": f"{host}:{port}" if listening else f"nothing on {host}:{port} yet"}


def _cmd_webhooks(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    host, port = args.host or settings.webhooks_host, args.port or settings.webhooks_port
    health_port = settings.webhooks_health_port if args.health_port is None else args.health_port
    local = (_LOOPBACK if host in _ANY_ADDRESS else host, port)
    health = ServiceHealth("webhooks", url, ready=lambda: _port_check(*local)) if health_port else None
    if health is not None:
        health.serve(settings.health_host, health_port)
    print(f"thermostat webhooks on http://{host}:{port}/webhooks/thermostat")
    serve_webhooks(url, host, port, health)
    return 0


def _cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    secret = settings.api_secret.get_secret_value() if settings.api_secret else None
    if (problem := secret_problem(secret)) is not None:
        raise SettingsError(problem)
    url = resolve_database_url(settings)
    host, port = args.host or settings.api_host, args.port or settings.api_port
    try:  # the WebSocket relays this bus; the API serves without it (the socket reconnects)
        mqtt_url = resolve_mqtt_url(settings)
    except ServiceUnavailable:
        mqtt_url = settings.mqtt_url or "mqtt://127.0.0.1:1883"
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    print(f"HTTP API on http://{host}:{port}/api/v1 (OpenAPI: /api/v1/openapi.json)")
    serve_api(
        url,
        secret,
        host,
        port,
        mqtt_url=mqtt_url,
        mqtt_username=settings.mqtt_username,
        mqtt_password=password,
    )
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    services = [name.strip() for item in args.only or [",".join(SERVICES)] for name in item.split(",")]
    unknown = sorted(set(services) - set(SERVICES))
    if unknown or not services:
        print(f"sbems serve: --only takes {', '.join(SERVICES)} (not {', '.join(unknown)})", file=sys.stderr)
        return 2
    services = [name for name in SERVICES if name in services]  # each once, in start order
    if not args.only and settings.api_secret is None:  # by default the API runs where it is configured
        services.remove("api")
        print("sbems serve: the HTTP API is not started (SBEMS_API_SECRET is unset)")
    env = site_environment(settings, services, dict(os.environ))
    specs = child_specs(
        services,
        buildings=args.building or ["hq"],
        listener_client_id=args.listener_client_id,
        listener_health_port=args.listener_health_port,
        health_host=settings.health_host,
    )
    policy = RestartPolicy(max_fast_failures=args.max_fast_failures)
    return Supervisor(specs, Path(settings.data_dir) / "logs", env, policy).run()


def _cmd_services(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "start":
        for service in start_services(settings):
            state = "started" if service.started else "already running"
            print(f"{service.name} {service.url} ({state})")
        return 0
    stopped = stop_services(settings)
    for what in stopped:
        print(f"stopped {what}")
    if not stopped:
        print(f"no embedded service runs under {Path(settings.data_dir).resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sbems", description="Smart Building Energy Management System")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole system on embedded defaults")
    demo.add_argument("--site", default="examples/site.yaml")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    demo.set_defaults(func=_cmd_demo)

    dbp = sub.add_parser("db", help="database schema, backup and restore")
    db_sub = dbp.add_subparsers(dest="action", required=True)
    db_sub.add_parser("upgrade", help="create/upgrade the schema (idempotent)")
    db_sub.add_parser("current", help="print the schema revision")
    dump = db_sub.add_parser("backup", help="pg_dump (custom format) of the configured database")
    dump.add_argument("--output", required=True, help="file to write (e.g. sbems.dump)")
    restore = db_sub.add_parser(
        "restore", help="restore a dump into the configured database, which must be empty"
    )
    restore.add_argument("path", help="a dump written by `sbems db backup`")
    restore.add_argument(
        "--force", action="store_true", help="restore into a non-empty database: drops all it holds first"
    )
    dbp.set_defaults(func=_cmd_db)

    site = sub.add_parser("site", help="import/export the site description")
    site_sub = site.add_subparsers(dest="action", required=True)
    imp = site_sub.add_parser("import")
    imp.add_argument("file")
    imp.add_argument(
        "--overwrite-panel-edits",
        action="store_true",
        help="apply the file's schedules and autopilot where the panel changed them (default: keep, report)",
    )
    exp = site_sub.add_parser("export")
    exp.add_argument("-o", "--output")
    site.set_defaults(func=_cmd_site)

    sub.add_parser("sim", help="run the virtual building (see `sbems sim --help`)")
    sub.add_parser("listener", help="run the real-time MQTT listener (see `sbems listener --help`)")

    flows = sub.add_parser("flows", help="list, run ad hoc, or serve the Prefect flows on their schedules")
    flows.add_argument("action", choices=["list", "run", "serve"])
    flows.add_argument("name", nargs="?", help="flow to run (with `run`)")
    flows.add_argument("--building", action="append", default=None, help="building id (repeatable)")
    flows.add_argument("--only", action="append", help="with `serve`: only these flows")
    flows.add_argument("--skip", action="append", help="with `serve`: not these (poll, with `sbems poller`)")
    flows.set_defaults(func=_cmd_flows)

    dep = sub.add_parser("deploy", help="register the flows in the Prefect process work pool (for workers)")
    dep.add_argument("--pool", default="sbems", help="work pool name (created as a process pool if missing)")
    dep.add_argument("--building", action="append", help="building id (repeatable; default hq)")
    dep.add_argument("--only", action="append", help="only these flows")
    dep.add_argument("--building-limit", type=int, help="concurrent device tasks per building (tag limit)")
    dep.add_argument("--device-limit", type=int, help="concurrent tasks per device (tag limit)")
    dep.set_defaults(func=cli_admin.cmd_deploy)

    users = sub.add_parser("users", help="manage panel users")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser(
        "add",
        help="create or update a user (password from SBEMS_USER_PASSWORD or a prompt: "
        "at least 12 characters, not a common password)",
    )
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=["admin", "facility_manager", "operator", "viewer"])
    add.add_argument("--building", action="append", help="building id (repeatable; default: all)")
    add.add_argument("--access-level", choices=["full", "control", "readonly"])
    reset = users_sub.add_parser(
        "reset-mfa", help="forget a user's TOTP key and recovery codes (they enrol again at the next login)"
    )
    reset.add_argument("email")
    users.set_defaults(func=cli_admin.cmd_users)

    ui = sub.add_parser("ui", help="run the Streamlit control panel")
    ui.add_argument("--host", help="bind address (default SBEMS_UI_HOST, 127.0.0.1)")
    ui.add_argument("--port", type=int, help="default SBEMS_UI_PORT, 8501")
    ui.add_argument(
        "--health-port", type=int, help="/healthz /readyz /metrics (SBEMS_UI_HEALTH_PORT; 0: none)"
    )
    ui.set_defaults(func=_cmd_ui)

    hooks = sub.add_parser("webhooks", help="receive thermostat webhook events (validated, stored)")
    hooks.add_argument("--host", help="bind address (default SBEMS_WEBHOOKS_HOST, 127.0.0.1)")
    hooks.add_argument("--port", type=int, help="default SBEMS_WEBHOOKS_PORT, 8088")
    hooks.add_argument("--health-port", type=int, help="health/metrics (SBEMS_WEBHOOKS_HEALTH_PORT; 0: none)")
    hooks.set_defaults(func=_cmd_webhooks)

    api = sub.add_parser("api", help="run the HTTP API (FastAPI, /api/v1; needs SBEMS_API_SECRET)")
    api.add_argument("--host", help="bind address (default SBEMS_API_HOST, 127.0.0.1)")
    api.add_argument("--port", type=int, help="default SBEMS_API_PORT, 8080")
    api.set_defaults(func=_cmd_api)

    secrets_p = sub.add_parser("secrets", help="secrets at rest: a master key, values sealed as fernet:...")
    secrets_p.add_argument(
        "action",
        choices=["new-key", "seal"],
        help="new-key: print a new SBEMS_SECRET_KEY; seal: read a secret on stdin, print it encrypted",
    )
    secrets_p.set_defaults(func=cli_admin.cmd_secrets)

    serve = sub.add_parser(
        "serve", help="production: run the site's services supervised (no simulator, no embedded services)"
    )
    serve.add_argument("--only", action="append", help=f"comma-separated subset of {','.join(SERVICES)}")
    serve.add_argument("--building", action="append", help="the flows' buildings (repeatable; default hq)")
    serve.add_argument("--listener-client-id", default="sbems-listener")
    serve.add_argument("--listener-health-port", type=int, default=9108)
    serve.add_argument(
        "--max-fast-failures", type=int, default=5, help="give up after a child fails this often in a row"
    )
    serve.set_defaults(func=_cmd_serve)

    services = sub.add_parser(
        "services", help="start or stop the embedded PostgreSQL and MQTT broker (under SBEMS_DATA_DIR)"
    )
    services.add_argument("action", choices=["start", "stop"])
    services.set_defaults(func=_cmd_services)

    alerts = sub.add_parser("alerts", help="raise an alert by hand; run one notification delivery pass")
    alerts_sub = alerts.add_subparsers(dest="action", required=True)
    raise_p = alerts_sub.add_parser("raise", help="store, publish and queue an alert (as the rules do)")
    raise_p.add_argument("--building", required=True, help="building id (from the site file)")
    raise_p.add_argument("--severity", required=True, choices=["critical", "warning", "info"])
    raise_p.add_argument("--title", required=True)
    raise_p.add_argument("--message", help="the alert's description")
    raise_p.add_argument(
        "--type",
        default="anomaly",
        choices=typing.get_args(AlertMessage.model_fields["alert_type"].annotation),
    )
    deliver = alerts_sub.add_parser("deliver", help="route, escalate and send what is due, once")
    deliver.add_argument("--building", help="only this building's alerts (default: all)")
    alerts.set_defaults(func=cli_admin.cmd_alerts)
    cli_savings.register(sub)
    cli_poller.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:  # the simulator has its own options (sbems sim --help)
        from sbems.sim.runner import main as sim_main  # lazy: BACnet, Modbus and HTTP servers, pandas

        return sim_main(argv[1:]) or 0
    if argv[:1] == ["listener"]:  # so has the listener (sbems listener --help)
        return listener_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "flows" and args.building is None:
        args.building = ["hq"]
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # libraries that log every migration step or HTTP request (Prefect's API calls)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        return args.func(args, settings)
    except SettingsError as exc:
        print(f"sbems: configuration error: {exc}", file=sys.stderr)
        return 2
    except (SiteFileError, StorageError, ServiceUnavailable) as exc:  # one clear line, non-zero exit
        print(f"sbems: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
