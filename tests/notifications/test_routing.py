"""Routing, escalation, quiet hours and retry back-off: pure functions against worked reference cases."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import yaml
from pydantic import ValidationError

from sbems.domain.notifications import (
    DEFAULT_ROUTING,
    NotificationRouting,
    NotifyTarget,
    QuietHours,
    decide_delivery,
    escalate_after_min,
    escalation_due,
    escalation_targets,
    notification_text,
    quiet_hours_end,
    retry_delay_s,
    route_targets,
    split_notify_urls,
    target_key,
)
from sbems.domain.site import SiteFileError, parse_site_yaml, read_site_file
from tests.conftest import EXAMPLE_SITE

NY = "America/New_York"


def _target(name: str, *tags: str) -> NotifyTarget:
    url = f"json://127.0.0.1/{name}"
    return NotifyTarget(url, frozenset(tags), target_key(url), url)


TEAM = _target("team")  # untagged
FACILITIES = _target("facilities", "facilities")
ONCALL = _target("oncall", "oncall", "facilities")
MANAGER = _target("manager", "manager")
ALL = [TEAM, FACILITIES, ONCALL, MANAGER]

ROUTING = NotificationRouting.model_validate(
    {
        "routes": [
            {"severities": ["critical", "warning"], "tags": ["facilities"]},
            {"severities": ["critical"], "tags": ["oncall", "manager"]},
            {"severities": ["info"], "tags": ["nobody-has-this"]},
        ],
        "escalation": {"after_min": 15, "tags": ["manager"]},
        "quiet_hours": {"start": "22:00", "end": "06:30"},
    }
)


def _names(targets: list[NotifyTarget]) -> list[str]:
    return [t.url.rsplit("/", 1)[1] for t in targets]


def test_split_urls_takes_our_tag_parameter_off_and_keeps_commas_inside_a_url():
    text = (
        "json://127.0.0.1:8080/alerts?tag=oncall,facilities, "
        "mailto://ops:pw@example.com?to=a@example.org,b@example.org&tag=mail&smtp=smtp.example.com,"
        "slack://T1/B2/C3 json://h/x?method=POST&tag=a+b&x=1"
    )
    assert split_notify_urls(text) == [
        ("json://127.0.0.1:8080/alerts", frozenset({"oncall", "facilities"})),
        (
            "mailto://ops:pw@example.com?to=a@example.org,b@example.org&smtp=smtp.example.com",
            frozenset({"mail"}),
        ),
        ("slack://T1/B2/C3", frozenset()),
        ("json://h/x?method=POST&x=1", frozenset({"a", "b"})),
    ]
    assert split_notify_urls("") == []
    assert split_notify_urls("  ") == []


def test_target_key_is_stable_and_reveals_nothing():
    key = target_key("mailto://ops:secret@example.com")
    assert key == target_key("mailto://ops:secret@example.com")
    assert key != target_key("mailto://ops:other@example.com")
    assert len(key) == 16 and "secret" not in key


def test_default_routing_sends_warning_and_critical_to_every_url_and_info_nowhere():
    assert _names(route_targets("critical", DEFAULT_ROUTING, ALL)) == [
        "team",
        "facilities",
        "oncall",
        "manager",
    ]
    assert _names(route_targets("warning", DEFAULT_ROUTING, ALL)) == [
        "team",
        "facilities",
        "oncall",
        "manager",
    ]
    assert route_targets("info", DEFAULT_ROUTING, ALL) == []


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", ["facilities", "oncall", "manager"]),  # union of two routes, each target once
        ("warning", ["facilities", "oncall"]),  # oncall carries the facilities tag too
        ("info", []),  # routed to a tag no URL carries
    ],
)
def test_routes_pick_targets_by_severity_and_tag(severity, expected):
    assert _names(route_targets(severity, ROUTING, ALL)) == expected


def test_escalation_goes_to_its_tags_or_back_to_the_targets_already_notified():
    assert _names(escalation_targets(ROUTING, {FACILITIES.key}, ALL)) == ["manager"]
    assert _names(escalation_targets(DEFAULT_ROUTING, {TEAM.key, ONCALL.key}, ALL)) == ["team", "oncall"]


def test_escalation_delay_from_the_block_else_the_setting():
    assert escalate_after_min(ROUTING, 30) == 15
    assert escalate_after_min(DEFAULT_ROUTING, 30) == 30
    sent = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert not escalation_due(sent, 15, sent + timedelta(minutes=14, seconds=59))
    assert escalation_due(sent, 15, sent + timedelta(minutes=15))
    assert not escalation_due(None, 15, sent + timedelta(hours=5))  # never sent: nothing to escalate
    assert not escalation_due(sent, 0, sent + timedelta(days=5))  # 0: never


@pytest.mark.parametrize(
    ("now_utc", "expected_end_utc"),
    [
        # 2026-11-30 is in EST (UTC-5). 21:59 local: not quiet yet
        (datetime(2026, 12, 1, 2, 59, tzinfo=UTC), None),
        # 22:00 local: quiet until 06:30 local the next morning = 11:30 UTC
        (datetime(2026, 12, 1, 3, 0, tzinfo=UTC), datetime(2026, 12, 1, 11, 30, tzinfo=UTC)),
        # 03:00 local (after midnight): same end
        (datetime(2026, 12, 1, 8, 0, tzinfo=UTC), datetime(2026, 12, 1, 11, 30, tzinfo=UTC)),
        # 06:30 local: over
        (datetime(2026, 12, 1, 11, 30, tzinfo=UTC), None),
        # noon local: not quiet
        (datetime(2026, 12, 1, 17, 0, tzinfo=UTC), None),
        # the night DST starts (2027-03-14, 02:00 EST -> 03:00 EDT): 06:30 EDT = 10:30 UTC
        (datetime(2027, 3, 14, 5, 0, tzinfo=UTC), datetime(2027, 3, 14, 10, 30, tzinfo=UTC)),
    ],
)
def test_quiet_hours_spanning_midnight_in_local_time(now_utc, expected_end_utc):
    assert quiet_hours_end(now_utc, NY, ROUTING.quiet_hours) == expected_end_utc


def test_quiet_hours_within_a_day_and_none():
    lunch = QuietHours(start=time(12, 0), end=time(13, 0))
    assert quiet_hours_end(datetime(2026, 12, 1, 17, 30, tzinfo=UTC), NY, lunch) == datetime(
        2026, 12, 1, 18, 0, tzinfo=UTC
    )
    assert quiet_hours_end(datetime(2026, 12, 1, 18, 0, tzinfo=UTC), NY, lunch) is None
    assert quiet_hours_end(datetime(2026, 12, 1, 3, 0, tzinfo=UTC), NY, None) is None
    with pytest.raises(ValidationError):
        QuietHours(start=time(1, 0), end=time(1, 0))


def test_decisions_hold_only_non_critical_in_quiet_hours_and_skip_what_no_longer_matters():
    night = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 03:00 in New York
    day = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)

    def decide(now, severity="warning", purpose="alert", acknowledged=False, resolved=False):
        return decide_delivery(
            purpose=purpose,
            severity=severity,
            acknowledged=acknowledged,
            resolved=resolved,
            timezone=NY,
            routing=ROUTING,
            now_utc=now,
        )

    held = decide(night)
    assert (held.action, held.until_utc) == ("hold", datetime(2026, 12, 1, 11, 30, tzinfo=UTC))
    assert decide(night, severity="critical").action == "send"
    assert decide(day).action == "send"
    assert decide(day, resolved=True).action == "skip"
    assert decide(day, purpose="escalation", acknowledged=True).action == "skip"
    assert decide(day, purpose="alert", acknowledged=True).action == "send"  # the first notice still goes
    assert decide_delivery(
        purpose="alert",
        severity="warning",
        acknowledged=False,
        resolved=False,
        timezone=NY,
        routing=DEFAULT_ROUTING,
        now_utc=night,
    ) == decide(day)  # no quiet hours by default


def test_retry_back_off_doubles_from_a_minute_up_to_an_hour():
    assert [retry_delay_s(n) for n in (1, 2, 3, 4, 7, 8, 50)] == [60, 120, 240, 480, 3600, 3600, 3600]


def test_notification_text_in_the_building_local_time():
    created = datetime(2026, 12, 1, 13, 5, tzinfo=UTC)
    title, body = notification_text(
        purpose="alert",
        severity="critical",
        title="Chiller 2 tripped",
        description="compressor lockout",
        building_key="hq",
        timezone=NY,
        created_utc=created,
        alert_id="a-1",
    )
    assert title == "[critical] hq: Chiller 2 tripped"
    assert body.splitlines() == [
        "compressor lockout",
        "Severity: critical",
        "Building: hq",
        "Raised: 2026-12-01 08:05 EST (13:05 UTC)",
        "Alert: a-1",
    ]
    title, body = notification_text(
        purpose="escalation",
        severity="warning",
        title="Zone hot",
        description=None,
        building_key=None,
        timezone="UTC",
        created_utc=created,
        alert_id="a-2",
        escalate_min=15,
    )
    assert title == "ESCALATED [warning] site: Zone hot"
    assert body.splitlines()[0] == "Not acknowledged within 15 min."


def test_the_site_file_takes_an_optional_notifications_block():
    site = read_site_file(EXAMPLE_SITE)  # no block: still loads, default routing
    assert all(b.notifications is None for b in site.buildings)
    data = yaml.safe_load(EXAMPLE_SITE.read_text(encoding="utf-8"))
    data["buildings"][0]["notifications"] = {
        "routes": [{"severities": ["critical"], "tags": ["oncall"]}],
        "escalation": {"after_min": 10},
        "quiet_hours": {"start": "22:00", "end": "06:00"},
    }
    routing = parse_site_yaml(yaml.safe_dump(data)).buildings[0].notifications
    assert routing.routes[0].tags == ["oncall"]
    assert routing.escalation.after_min == 10 and routing.escalation.tags is None
    assert routing.quiet_hours == QuietHours(start=time(22, 0), end=time(6, 0))
    data["buildings"][0]["notifications"]["routes"][0]["severities"] = ["urgent"]
    with pytest.raises(SiteFileError, match=r"buildings\[0\]\.notifications\.routes\[0\]\.severities"):
        parse_site_yaml(yaml.safe_dump(data))
