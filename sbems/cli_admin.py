"""``sbems deploy | users | secrets | alerts``: the operator commands of :mod:`sbems.cli` (kept apart so
each module stays small). Same conventions: settings in, one line on error, exit status out."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sbems.config import Settings, SettingsError
from sbems.domain.site import read_site_file
from sbems.runtime import resolve_database_url, resolve_mqtt_url
from sbems.services.auth import AuthError, create_user, reset_mfa
from sbems.services.notifications import (
    NotificationError,
    deliver_notifications,
    raise_alert,
    settings_notify_config,
)


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    from sbems.deployments.pool import deploy_command  # lazy: Prefect's client

    if settings.prefect_api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect_api_url
    result = deploy_command(
        args.building or ["hq"],
        args.only or None,
        pool=args.pool,
        site=read_site_file(settings.site_file),
        building_limit=args.building_limit,
        device_limit=args.device_limit,
    )
    state = "created" if result.pool_created else "exists"
    print(f"work pool {result.pool} ({state}); {len(result.deployments)} deployments registered")
    for tag, limit in result.limits.items():
        print(f"concurrency limit {tag}: {limit}")
    print(f"run them with: prefect worker start --pool {result.pool}")
    return 0


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    database_url = resolve_database_url(settings)
    if args.action == "reset-mfa":
        try:
            reset_mfa(database_url, args.email)
        except AuthError as exc:
            print(f"sbems: {exc}", file=sys.stderr)
            return 1
        print(f"MFA of {args.email} reset: sessions ended; a new key is set up at the next login")
        return 0
    password = os.environ.get("SBEMS_USER_PASSWORD") or getpass.getpass(f"password for {args.email}: ")
    try:
        user_id = create_user(
            database_url,
            email=args.email,
            password=password,
            role=args.role,
            buildings=args.building,
            access_level=args.access_level,
        )
    except AuthError as exc:
        print(f"sbems: {exc}", file=sys.stderr)
        return 1
    print(f"user {args.email} ({args.role}) saved: {user_id}")
    return 0


def cmd_secrets(args: argparse.Namespace, settings: Settings) -> int:
    from sbems.domain.secret_box import SecretBoxError, new_key, seal

    if args.action == "new-key":
        print(new_key())
        return 0
    if settings.secret_key is None:
        raise SettingsError("SBEMS_SECRET_KEY is not set (`sbems secrets new-key` makes one)")
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass("secret to encrypt: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    try:
        print(seal(value, settings.secret_key.get_secret_value()))
    except SecretBoxError as exc:
        raise SettingsError(str(exc)) from exc
    return 0


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    try:
        config = settings_notify_config(settings)
        if args.action == "raise":
            raised = raise_alert(
                url,
                resolve_mqtt_url(settings),
                config,
                building_key=args.building,
                severity=args.severity,
                title=args.title,
                description=args.message,
                alert_type=args.type,
            )
        else:
            summary = deliver_notifications(url, config, building_key=args.building)
    except NotificationError as exc:
        print(f"sbems: {exc}", file=sys.stderr)
        return 1
    if args.action == "deliver":
        print(", ".join(f"{name} {count}" for name, count in summary.items()))
        return 0
    published = (
        f"published on sbems/alerts/{args.severity}"
        if raised.published
        else f"NOT published ({raised.publish_error})"
    )
    print(
        f"alert {raised.alert_id} raised ({args.severity}, {args.building}): {published}; "
        f"{raised.queued} deliveries queued (`sbems alerts deliver` sends them)"
    )
    return 0
