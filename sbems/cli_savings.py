"""``sbems savings events add | list | withdraw``: the non-routine events of a building's savings (IPMVP
non-routine adjustments, docs/savings.md), recorded with an audit trail. Kept apart from :mod:`sbems.cli`
(which registers it with one line); same conventions: settings in, one line on error, exit status out."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import date

from sbems.config import Settings
from sbems.mv.nonroutine import ACTIONS, KINDS, NonRoutineEvent
from sbems.runtime import resolve_database_url
from sbems.services.savings import (
    read_nonroutine_events,
    record_nonroutine_event,
    withdraw_nonroutine_event,
)


def _actor(args: argparse.Namespace) -> str:
    return args.actor or f"cli:{getpass.getuser()}"


def cmd_savings(args: argparse.Namespace, settings: Settings) -> int:
    url = resolve_database_url(settings)
    try:
        if args.action == "add":
            if args.kind == "adjust" and args.kwh_per_day is None:
                raise ValueError("--kind adjust needs --kwh-per-day")
            event = NonRoutineEvent(
                start=args.start,
                end=args.end,
                kind=args.cause,
                action=args.kind,
                kwh_per_day=args.kwh_per_day if args.kind == "adjust" else 0.0,
                description=args.reason,
                kwh_per_day_sd=args.kwh_per_day_sd if args.kind == "adjust" else 0.0,
            )
            event_id = record_nonroutine_event(url, args.building, event, actor=_actor(args))
            print(f"event {event_id} recorded for {args.building}: {args.kind} from {args.start}")
            return 0
        if args.action == "withdraw":
            if not withdraw_nonroutine_event(
                url, args.building, args.id, reason=args.reason, actor=_actor(args)
            ):
                print(f"sbems: no active event {args.id} in {args.building}", file=sys.stderr)
                return 1
            print(f"event {args.id} withdrawn")
            return 0
    except ValueError as exc:  # the event's own checks (dates, kWh), a malformed id, an empty reason
        print(f"sbems: {exc}", file=sys.stderr)
        return 2
    rows = read_nonroutine_events(url, args.building, include_withdrawn=args.all)
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    for row in rows:
        amount = "" if row["kwh_per_day"] is None else f" {row['kwh_per_day']:+,.1f} kWh/day"
        if row.get("kwh_per_day_sd"):
            amount += f" (± {row['kwh_per_day_sd']:,.1f} s.e.)"
        state = (
            f"  WITHDRAWN by {row['withdrawn_by']}: {row['withdrawn_reason']}" if row["withdrawn_at"] else ""
        )
        print(
            f"{row['id']}  {row['start_date']} to {row['end_date'] or 'open'}  {row['action']}{amount}  "
            f"{row['kind']}  {row['description']!r}  by {row['created_by']}{state}"
        )
    if not rows:
        print(f"no non-routine events for {args.building}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``savings events ...`` to the ``sbems`` parser."""
    savings = sub.add_parser("savings", help="savings (M&V): non-routine events, audited")
    events = savings.add_subparsers(dest="group", required=True).add_parser(
        "events", help="record, list or withdraw the non-routine events (IPMVP) the savings flow applies"
    )
    actions = events.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="record an event (an audit_log row is written with it)")
    add.add_argument("--building", required=True, help="building id (from the site file)")
    add.add_argument("--start", required=True, type=date.fromisoformat, help="first local day (YYYY-MM-DD)")
    add.add_argument("--end", type=date.fromisoformat, help="local day after the last one (default: open)")
    add.add_argument(
        "--kind", required=True, choices=ACTIONS, help="exclude the days, or adjust by --kwh-per-day"
    )
    add.add_argument("--kwh-per-day", type=float, help="adjust: kWh per day the event adds (negative: saves)")
    add.add_argument(
        "--kwh-per-day-sd", type=float, default=0.0, help="adjust: standard uncertainty of --kwh-per-day"
    )
    add.add_argument("--cause", choices=KINDS, default="other", help="what happened (default other)")
    add.add_argument("--reason", required=True, help="why: recorded with the event and in the audit log")
    add.add_argument("--actor", help="who records it (default cli:<login>)")
    listing = actions.add_parser("list", help="the building's events")
    listing.add_argument("--building", required=True)
    listing.add_argument("--all", action="store_true", help="include withdrawn events")
    listing.add_argument("--json", action="store_true")
    withdraw = actions.add_parser("withdraw", help="withdraw an event (kept, audited)")
    withdraw.add_argument("--building", required=True)
    withdraw.add_argument("--id", required=True)
    withdraw.add_argument("--reason", required=True)
    withdraw.add_argument("--actor")
    savings.set_defaults(func=cmd_savings)
