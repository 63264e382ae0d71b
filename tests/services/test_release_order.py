"""Held writes are given back cooling first: a heating setpoint released (Modbus: the schedule's value
written) under a still-held low cooling setpoint reads back lower (the unit's deadband guard)."""

from sbems.domain.control import COMMAND_TYPES
from sbems.services.dispatch_release import cooling_first


def test_cooling_setpoints_are_released_before_heating_ones():
    held = [
        {"id": 1, "command_type": COMMAND_TYPES["heating"]},  # older heating write (cooling re-sent since)
        {"id": 2, "command_type": COMMAND_TYPES["mode"]},
        {"id": 3, "command_type": COMMAND_TYPES["cooling"]},
        {"id": 4, "command_type": COMMAND_TYPES["heating"]},
        {"id": 5, "command_type": COMMAND_TYPES["cooling"]},
    ]
    assert [c["id"] for c in cooling_first(held)] == [3, 5, 1, 2, 4]  # otherwise oldest first
    assert cooling_first([]) == []
