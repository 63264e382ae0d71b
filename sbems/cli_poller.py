"""``sbems poller --building B [--period-s 30]``: the long-lived, in-process poller
(:mod:`sbems.deployments.poller`). Kept apart from :mod:`sbems.cli` (which registers it with one line);
same conventions: settings in, one line on error, exit status out."""

from __future__ import annotations

import argparse
import os

from sbems.config import Settings
from sbems.runtime import resolve_database_url, resolve_mqtt_url


def cmd_poller(args: argparse.Namespace, settings: Settings) -> int:
    from sbems.deployments.poller import run_poller  # lazy: Prefect

    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    # where the runs store and publish, checked before the first cycle (one line when nothing answers)
    database_url = resolve_database_url(settings)
    resolve_mqtt_url(settings)
    port = settings.poller_health_port if args.health_port is None else args.health_port
    health = (database_url, settings.health_host, port) if port else None
    return run_poller(args.building, args.period_s, health=health)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``poller`` to the ``sbems`` parser."""
    poller = sub.add_parser(
        "poller",
        help="poll buildings every period in this process (each cycle a poll-building flow run)",
    )
    poller.add_argument("--building", action="append", required=True, help="building id (repeatable)")
    poller.add_argument("--period-s", type=float, default=None, help="seconds between cycles (default 30)")
    poller.add_argument("--health-port", type=int, default=None, help="/healthz, /readyz, /metrics (0: none)")
    poller.set_defaults(func=cmd_poller)
