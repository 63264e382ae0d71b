from datetime import date

import pandas as pd

from sbems.domain.permissions import Role, has_permission
from sbems.domain.schedule import OccupiedPeriod, WeeklySchedule, occupied_mask, scheduled_setpoints_c


def _schedule(**kw) -> WeeklySchedule:
    return WeeklySchedule(
        id="office",
        name="Office",
        occupied=[OccupiedPeriod(days=["mon", "tue", "wed", "thu", "fri"], start="07:00", end="19:00")],
        **kw,
    )


def test_occupied_in_local_time():
    # 2026-07-06 is a Monday; 11:00 UTC = 07:00 in New York (EDT)
    times = pd.DatetimeIndex(
        [
            "2026-07-06T10:59Z",
            "2026-07-06T11:00Z",
            "2026-07-06T22:59Z",
            "2026-07-06T23:00Z",
            "2026-07-04T15:00Z",
        ]
    )
    assert occupied_mask(_schedule(), times, "America/New_York").tolist() == [False, True, True, False, False]


def test_holiday_is_unoccupied_and_setpoints_follow():
    times = pd.DatetimeIndex(["2026-12-25T15:00Z", "2026-12-24T15:00Z"])
    schedule = _schedule(holidays=[date(2026, 12, 25)])
    assert occupied_mask(schedule, times, "America/New_York").tolist() == [False, True]
    assert scheduled_setpoints_c(schedule, times, "America/New_York").tolist() == [28.0, 23.0]


def test_seed_roles():
    assert has_permission(Role.ADMIN, "write:users")
    assert has_permission("facility_manager", "read:energy")
    assert has_permission("facility_manager", "write:schedules")
    assert has_permission("operator", "write:control")
    assert not has_permission("operator", "write:schedules")
    assert has_permission("viewer", "read:energy")
    assert not has_permission("viewer", "write:control")
    assert not has_permission("viewer", "read:schedules")
