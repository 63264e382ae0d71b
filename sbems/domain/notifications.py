"""Who hears of an alert, and when: routing by building and severity, escalation, quiet hours. Pure.

Targets are apprise URLs from ``SBEMS_NOTIFY_URLS`` (comma-separated), each optionally tagged with a
``tag=`` query parameter (``json://host/hook?tag=oncall,facilities``); the tag is ours and is taken off the
URL before apprise sees it. A building's ``notifications`` block in the site file routes severities to
tags; without one, every URL gets every alert of severity warning or critical. An alert whose first
notification was sent and that nobody acknowledged within ``escalation.after_min`` minutes is sent once more
to the escalation targets. During a building's quiet hours (its local time) only critical alerts go out;
the others are held until the quiet hours end.

Routes edited in the panel (``PanelRoute``: one per building and severity, stored in the database) take
precedence over the site file for their severity: an alert of that severity goes to the panel route's tags
and targets only (none: to nobody). Severities without a panel route follow the site file's routes (or the
default). Escalation and quiet hours always come from the site file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
Tag = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]

RETRY_FIRST_S = 60.0  # first retry one minute after a failure, then doubling ...
RETRY_MAX_S = 3600.0  # ... up to once an hour, for as long as it takes: a delivery is never dropped
ESCALATION_PREFIX = "ESCALATED"

# a URL starts at "scheme://"; one ends where a comma or blank is followed by the next "scheme://"
# (so commas inside a URL, e.g. several recipients, stay in it) -- the rule apprise itself splits by
_URL_RE = re.compile(r"([a-z0-9+.-]+://.*?)(?=$|[\s,]+[a-z0-9+.-]+://)", re.I | re.S)
_TAG_PARAM_RE = re.compile(r"([?&])tag=([^&#]*)&?")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Model):
    """Alerts of these severities go to the URLs carrying any of these tags (no tags: to every URL)."""

    severities: list[Severity] = Field(min_length=1)
    tags: list[Tag] | None = None


class Escalation(_Model):
    """Re-send an unacknowledged alert ``after_min`` minutes after its first notification went out.

    ``after_min`` None takes ``SBEMS_NOTIFY_ESCALATE_MIN``; 0 never escalates. ``tags`` None re-sends to
    the alert's own targets; otherwise to the URLs carrying any of these tags."""

    after_min: int | None = Field(default=None, ge=0, le=10080)
    tags: list[Tag] | None = None


class QuietHours(_Model):
    """From ``start`` to ``end`` (building local time, may span midnight) only critical alerts go out."""

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("end: must differ from start")
        return self


class NotificationRouting(_Model):
    """A building's ``notifications`` block in the site file."""

    routes: list[Route] = Field(default_factory=lambda: [Route(severities=["critical", "warning"])])
    escalation: Escalation = Escalation()
    quiet_hours: QuietHours | None = None


DEFAULT_ROUTING = NotificationRouting()
TargetKey = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]


class PanelRoute(_Model):
    """Who gets a building's alerts of one severity, as set in the panel: the URLs carrying any of ``tags``
    and the URLs named by ``target_keys`` (see :func:`target_key`). Both empty: nobody."""

    severity: Severity
    tags: list[Tag] = Field(default_factory=list, max_length=32)
    target_keys: list[TargetKey] = Field(default_factory=list, max_length=64)


@dataclass(frozen=True)
class NotifyTarget:
    """One apprise URL: ``key`` (a hash) and ``label`` (secrets masked) are what the database keeps."""

    url: str = field(repr=False)  # may hold a token or password: kept out of reprs and logs
    tags: frozenset[str]
    key: str
    label: str


@dataclass(frozen=True)
class Decision:
    """What to do with a due delivery now: ``send``, ``hold`` until ``until_utc``, or ``skip`` (why)."""

    action: Literal["send", "hold", "skip"]
    until_utc: datetime | None = None
    reason: str | None = None


def split_notify_urls(text: str) -> list[tuple[str, frozenset[str]]]:
    """``SBEMS_NOTIFY_URLS`` -> (URL without our ``tag=`` parameter, its tags), in the order given."""
    entries = []
    for raw in _URL_RE.findall(text.strip()):
        url = raw.strip().rstrip(",")
        tags: set[str] = set()
        match = _TAG_PARAM_RE.search(url)
        if match:
            tags = {t for t in re.split(r"[,+\s]+", match[2].lower()) if t}
            url = url[: match.start()] + (match[1] if match.end() < len(url) else "") + url[match.end() :]
            url = url.rstrip("?&")
        entries.append((url, frozenset(tags)))
    return entries


def target_key(url: str) -> str:
    """A stable name for a URL that reveals nothing of it (sha256, 16 hex digits)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def tagged(targets: list[NotifyTarget], tags: list[str] | None) -> list[NotifyTarget]:
    """The targets carrying any of ``tags``; every target when ``tags`` is None."""
    if tags is None:
        return list(targets)
    wanted = set(tags)
    return [t for t in targets if t.tags & wanted]


def route_targets(
    severity: str, routing: NotificationRouting, targets: list[NotifyTarget]
) -> list[NotifyTarget]:
    """The targets of an alert of ``severity``: the union over the routes that take this severity."""
    chosen: dict[str, NotifyTarget] = {}
    for route in routing.routes:
        if severity in route.severities:
            for target in tagged(targets, route.tags):
                chosen.setdefault(target.key, target)
    return [t for t in targets if t.key in chosen]


def alert_targets(
    severity: str,
    routing: NotificationRouting,
    targets: list[NotifyTarget],
    panel_routes: Mapping[str, PanelRoute] | None = None,
) -> list[NotifyTarget]:
    """The targets of an alert: the panel's route for its severity when there is one, else the site
    file's routes (:func:`route_targets`)."""
    panel = (panel_routes or {}).get(severity)
    if panel is None:
        return route_targets(severity, routing, targets)
    keys, tags = set(panel.target_keys), set(panel.tags)
    return [t for t in targets if t.key in keys or t.tags & tags]


def display_target(url: str) -> str:
    """What the panel shows of an apprise URL: its scheme and host only (no user, password, port, path,
    token or query); ``scheme://`` when there is no host."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return url.split("://", 1)[0] + "://"
    return f"{parts.scheme}://{host}"


def escalation_targets(
    routing: NotificationRouting, notified_keys: set[str], targets: list[NotifyTarget]
) -> list[NotifyTarget]:
    """Where an escalation goes: the escalation tags' targets, else the targets already notified."""
    if routing.escalation.tags is None:
        return [t for t in targets if t.key in notified_keys]
    return tagged(targets, routing.escalation.tags)


def escalate_after_min(routing: NotificationRouting, default_min: int) -> int:
    """Minutes without acknowledgement before escalating (0: never)."""
    after = routing.escalation.after_min
    return default_min if after is None else after


def escalation_due(first_sent_utc: datetime | None, after_min: int, now_utc: datetime) -> bool:
    """True once ``after_min`` minutes have passed since the first notification went out."""
    if after_min <= 0 or first_sent_utc is None:
        return False
    return now_utc - first_sent_utc >= timedelta(minutes=after_min)


def quiet_hours_end(now_utc: datetime, timezone: str, quiet: QuietHours | None) -> datetime | None:
    """When the quiet hours around ``now_utc`` end (UTC), or None outside quiet hours."""
    if quiet is None:
        return None
    tz = ZoneInfo(timezone)
    local = now_utc.astimezone(tz)
    now_t = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside = quiet.start <= now_t < quiet.end
    else:  # spans midnight, e.g. 22:00-06:00
        inside = now_t >= quiet.start or now_t < quiet.end
    if not inside:
        return None
    end_day = local.date() if now_t < quiet.end else local.date() + timedelta(days=1)
    # wall-clock end on that day (zoneinfo resolves a time skipped or repeated by DST to a real instant)
    return datetime.combine(end_day, quiet.end, tzinfo=tz).astimezone(UTC)


def decide_delivery(
    *,
    purpose: str,
    severity: str,
    acknowledged: bool,
    resolved: bool,
    timezone: str,
    routing: NotificationRouting,
    now_utc: datetime,
) -> Decision:
    """Send, hold for quiet hours (non-critical only) or skip (the alert was resolved, or an escalation's
    alert was acknowledged, before it could go out)."""
    if resolved:
        return Decision("skip", reason="alert resolved before delivery")
    if purpose == "escalation" and acknowledged:
        return Decision("skip", reason="alert acknowledged before escalation")
    if severity != "critical":
        until = quiet_hours_end(now_utc, timezone, routing.quiet_hours)
        if until is not None:
            return Decision("hold", until_utc=until, reason="quiet hours")
    return Decision("send")


def retry_delay_s(attempts: int) -> float:
    """Back-off after the ``attempts``-th failed attempt: 60 s, 120 s, 240 s ... capped at one hour."""
    return min(RETRY_FIRST_S * 2 ** max(attempts - 1, 0), RETRY_MAX_S)


def notification_text(
    *,
    purpose: str,
    severity: str,
    title: str,
    description: str | None,
    building_key: str | None,
    timezone: str,
    created_utc: datetime,
    alert_id: str,
    escalate_min: int | None = None,
) -> tuple[str, str]:
    """The notification's title and body; times in the building's local time, UTC in brackets."""
    where = building_key or "site"
    head = f"[{severity}] {where}: {title}"
    if purpose == "escalation":
        head = f"{ESCALATION_PREFIX} {head}"
    local = created_utc.astimezone(ZoneInfo(timezone))
    lines = [description] if description else []
    if purpose == "escalation":
        after = f" within {escalate_min} min" if escalate_min else ""
        lines.append(f"Not acknowledged{after}.")
    lines += [
        f"Severity: {severity}",
        f"Building: {where}",
        f"Raised: {local:%Y-%m-%d %H:%M %Z} ({created_utc.astimezone(UTC):%H:%M} UTC)",
        f"Alert: {alert_id}",
    ]
    return head, "\n".join(lines)
