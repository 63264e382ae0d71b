def test_bacnet_priorities_sbems_may_write():
    from sbems.domain.control import bacnet_priority_problem

    assert [p for p in range(0, 18) if bacnet_priority_problem(p) is None] == [
        3,
        4,
        5,
        6,
        7,
        9,
        10,
        11,
        12,
        13,
        14,
        15,
    ]
    assert "reserved" in bacnet_priority_problem(8) and "outside" in bacnet_priority_problem(17)


def _deadband_kept(now: dict[str, float], new: dict[str, float], order: tuple[str, ...]) -> bool:
    """Whether each single write, in ``order``, keeps 1 K between the zone's two setpoints in force."""
    from sbems.domain.schedule import MIN_DEADBAND_K

    held = dict(now)
    for kind in order:
        held[kind] = new[kind]
        if held["cooling"] - held["heating"] < MIN_DEADBAND_K - 1e-9:
            return False
    return True


def test_setpoint_write_order_keeps_the_deadband_after_every_write():
    from itertools import product

    from sbems.domain.control import setpoint_write_order

    values_c = [16.0 + 0.5 * i for i in range(25)]  # 16-28 C
    pairs = [{"cooling": c, "heating": h} for c, h in product(values_c, values_c) if c - h >= 1.0]
    naive_broken = 0
    for now, new in product(pairs, pairs):
        order = setpoint_write_order(now["cooling"], new["cooling"], new["heating"])
        assert sorted(order) == ["cooling", "heating"]
        assert _deadband_kept(now, new, order), (now, new, order)
        naive_broken += not _deadband_kept(now, new, ("cooling", "heating"))
    assert naive_broken > 0  # cooling first (the old order) breaks it when both fall


def test_setpoint_write_order_cases():
    from sbems.domain.control import setpoint_write_order

    assert setpoint_write_order(23.0, 22.0, 20.0) == ("heating", "cooling")  # both fall
    assert setpoint_write_order(23.0, 25.0, 22.5) == ("cooling", "heating")  # both rise
    assert setpoint_write_order(23.0, 23.0, 21.0) == ("cooling", "heating")  # cooling unchanged
    assert setpoint_write_order(23.0, 22.0, None) == ("cooling",)  # one kind only
    assert setpoint_write_order(23.0, None, 20.0) == ("heating",)
    assert setpoint_write_order(None, 22.0, 20.0) == ("cooling", "heating")  # in force not known
