"""``python -m sbems.listener``: run the listener with the SBEMS_* settings (``sbems listener`` runs this)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from sbems.config import SettingsError, load_settings
from sbems.listener.journal import JournalLocked
from sbems.listener.options import ListenerOptions
from sbems.listener.service import run
from sbems.runtime import ServiceUnavailable


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = ListenerOptions()
    parser = argparse.ArgumentParser(prog="sbems listener", description=__doc__)
    parser.add_argument("--client-id", default=defaults.client_id, help="MQTT client id (keeps the session)")
    parser.add_argument(
        "--share-group",
        default=os.environ.get("SBEMS_LISTENER_SHARE_GROUP") or None,
        help="MQTT 5 shared subscription group: listeners in one group share the stream (each needs its own "
        "--client-id); default $SBEMS_LISTENER_SHARE_GROUP, else none",
    )
    parser.add_argument("--health-host", default=defaults.health_host)
    parser.add_argument(
        "--health-port",
        type=int,
        default=defaults.health_port,
        help="HTTP port of /healthz, /readyz, /metrics (0 = any; -1 = none)",
    )
    parser.add_argument("--batch-rows", type=int, default=defaults.batch_max_rows)
    parser.add_argument("--batch-age-s", type=float, default=defaults.batch_max_age_s)
    parser.add_argument("--journal-max-mb", type=int, default=defaults.journal_max_bytes // 2**20)
    parser.add_argument("--receive-maximum", type=int, default=defaults.receive_maximum)
    parser.add_argument(
        "--max-age-days",
        type=float,
        default=defaults.max_reading_age_s / 86400,
        help="messages dated further back are quarantined (default 7)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def options_from_args(args: argparse.Namespace) -> ListenerOptions:
    return ListenerOptions(
        client_id=args.client_id,
        share_group=args.share_group,
        health_host=args.health_host,
        health_port=None if args.health_port < 0 else args.health_port,
        batch_max_rows=args.batch_rows,
        batch_max_age_s=args.batch_age_s,
        journal_max_bytes=args.journal_max_mb * 2**20,
        receive_maximum=args.receive_maximum,
        max_reading_age_s=args.max_age_days * 86400,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        options = options_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return run(settings, options)
    except (JournalLocked, ServiceUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
