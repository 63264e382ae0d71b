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
