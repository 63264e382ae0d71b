"""``PATCH /api/v1/schedules/{id}`` with heating setpoints: any of the four, the others kept; the deadband
against the stored pair and the zones' limits as 422 problems; audited with source ``api``."""

from __future__ import annotations

PROBLEM = "application/problem+json"
PATH = "/schedules/office-weekdays"


def test_heating_setpoints_through_the_api(api, tokens, conn):
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        (before,) = client.get(PATH).json()["items"]
        assert (before["occupied_heating_setpoint_c"], before["unoccupied_heating_setpoint_c"]) == (
            21.0,
            16.0,
        )

        changed = client.patch(PATH, json={"unoccupied_heating_setpoint_c": 17.5})
        assert changed.status_code == 200, changed.text
        (after,) = changed.json()["items"]
        assert after["unoccupied_heating_setpoint_c"] == 17.5
        assert (after["occupied_setpoint_c"], after["unoccupied_setpoint_c"]) == (23.0, 28.0)  # kept
        assert after["occupied_heating_setpoint_c"] == 21.0

        for body, words in (
            ({"occupied_heating_setpoint_c": 22.5}, "at least 1 K above the occupied heating setpoint 22.5"),
            ({"occupied_setpoint_c": 21.5}, "at least 1 K above the occupied heating setpoint 21.0"),
            ({"unoccupied_heating_setpoint_c": 12.0}, "outside the heating limits 15.0-26.0 C of zone hq/"),
            ({"unoccupied_setpoint_c": 32.0}, "outside the cooling limits 21.0-30.0 C of zone hq/"),
            ({}, "at least one setpoint"),
        ):
            refused = client.patch(PATH, json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.headers["content-type"].startswith(PROBLEM) and words in refused.json()["detail"]
        assert client.patch(PATH, json={"occupied_heating_setpoint_c": "warm"}).status_code == 422
        (now,) = client.get(PATH).json()["items"]
        assert now == after
    with api.client(tokens["operator"]["access_token"]) as client:
        assert client.patch(PATH, json={"occupied_heating_setpoint_c": 20.0}).status_code == 403
    audit = conn.execute(
        "SELECT result, source FROM audit_log WHERE resource = 'schedule' ORDER BY id"
    ).fetchall()
    assert audit[0] == ("success", "api") and audit.count(("rejected", "api")) == 5
