"""``DELETE /schedules/{id}`` and ``POST /schedules/{id}/enable|disable`` over real HTTP on a real
PostgreSQL: 409 with the zones while a schedule is followed, retired (history kept) once not, kept deleted
by a site import unless it overwrites edits; enable/disable stored on every row, idempotent, audited, with
the roles of ``PATCH /schedules``."""

from __future__ import annotations

import pytest

from sbems.domain.site import SiteFileError, parse_site
from sbems.services.schedule_edits import import_site
from sbems.storage.entities import read_site

PROBLEM = "application/problem+json"
MEZZ = {
    "id": "mezz",
    "name": "Mezzanine",
    "occupied": [{"days": ["mon"], "start": "08:00", "end": "12:00"}],
}


def _audit(conn, action: str) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT resource_id, result FROM audit_log WHERE resource = 'schedule' AND action = %s ORDER BY id",
        (action,),
    ).fetchall()


def test_disable_and_enable_are_stored_idempotent_and_audited(api, tokens, conn):
    path = "/schedules/office-weekdays"
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        off = client.post(f"{path}/disable")
        assert off.status_code == 200, off.text
        body = off.json()
        assert (body["enabled"], body["changed"]) == (False, True)
        assert "hq.z1" in body["zone_ids"] and body["released"] == [] and body["release_problems"] == []
        assert client.get(path).json()["items"][0]["enabled"] is False
        again = client.post(f"{path}/disable").json()
        assert (again["enabled"], again["changed"]) == (False, False)  # idempotent
        assert client.post("/schedules/no-such/disable").status_code == 404
    rows = conn.execute("SELECT DISTINCT enabled FROM schedules").fetchall()
    assert rows == [(False,)]
    assert conn.execute("SELECT enabled FROM schedule_states WHERE key = 'office-weekdays'").fetchone() == (
        False,
    )
    for role in ("operator", "viewer"):
        with api.client(tokens[role]["access_token"]) as client:
            refused = client.post(f"{path}/enable")
            assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM)
    with api.client(tokens["admin"]["access_token"]) as client:
        on = client.post(f"{path}/enable").json()
        assert (on["enabled"], on["changed"]) == (True, True)
        assert client.get(path).json()["items"][0]["enabled"] is True
    assert _audit(conn, "disable") == [
        ("office-weekdays", "success"),
        ("office-weekdays", "success"),
        ("no-such", "rejected"),
    ]
    assert _audit(conn, "enable") == [("office-weekdays", "success")]


def test_a_disabled_schedule_stays_disabled_for_a_zone_that_starts_following_it(api, tokens, conn):
    with api.client(tokens["admin"]["access_token"]) as client:
        assert client.post("/zones/hq.z4/schedules", json=MEZZ).status_code == 201
        assert client.post("/schedules/mezz/disable").status_code == 200
        assert client.patch("/zones/hq.z4", json={"schedule": "office-weekdays"}).status_code == 200
        assert client.get("/schedules/mezz").status_code == 404  # no zone follows it: not in any building
        assert client.patch("/zones/hq.z5", json={"schedule": "mezz"}).status_code == 200  # it persists
        (mezz,) = client.get("/schedules/mezz").json()["items"]
        assert mezz["zone_ids"] == ["hq.z5"] and mezz["enabled"] is False


def test_delete_refuses_while_followed_then_retires_and_import_keeps_it_deleted(
    api, tokens, conn, example_site
):
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        busy = client.delete("/schedules/office-weekdays")
        assert busy.status_code == 409 and busy.headers["content-type"].startswith(PROBLEM)
        assert set(busy.json()["zone_ids"]) == {f"hq.z{i}" for i in range(1, 7)}
        assert client.post("/zones/hq.z4/schedules", json=MEZZ).status_code == 201
        assert client.delete("/schedules/mezz").json()["zone_ids"] == ["hq.z4"]
        assert client.patch("/zones/hq.z4", json={"schedule": "office-weekdays"}).status_code == 200
    with api.client(tokens["operator"]["access_token"]) as client:
        assert client.delete("/schedules/mezz").status_code == 403
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        gone = client.delete("/schedules/mezz")
        assert gone.status_code == 200, gone.text
        assert client.delete("/schedules/mezz").status_code == 404  # already deleted
        assert client.patch("/zones/hq.z4", json={"schedule": "mezz"}).status_code == 422  # unknown now
    retired = conn.execute("SELECT retired_by, spec->>'name' FROM schedule_states WHERE key = 'mezz'")
    assert retired.fetchone() == ("facility_manager@example.com", "Mezzanine")  # history kept
    assert _audit(conn, "delete") == [  # (the operator's 403 is the role check, before the use case)
        ("office-weekdays", "rejected"),
        ("mezz", "rejected"),
        ("mezz", "success"),
        ("mezz", "rejected"),
    ]
    assert "mezz" not in {s.id for s in read_site(conn).schedules}

    # the site file still has z4 on mezz: a conflict, kept deleted, z4 keeps its stored schedule
    data = example_site.model_dump(mode="json", exclude_none=True)
    data["schedules"].append({**MEZZ, "name": "Mezzanine (file)"})
    data["buildings"][0]["zones"][3]["schedule"] = "mezz"
    imported = import_site(api.db_url, parse_site(data, "test"))
    assert [(c.kind, c.key, c.fields) for c in imported.conflicts if c.key == "mezz"] == [
        ("schedule", "mezz", ["deleted"])
    ]
    conn.commit()
    site = read_site(conn)
    assert "mezz" not in {s.id for s in site.schedules}
    assert site.building("hq").zone("z4").schedule == "office-weekdays"

    # a zone the database does not have cannot follow it: the import refuses
    new_zone = {**data["buildings"][0]["zones"][3], "id": "z10", "neighbours": []}
    data["buildings"][0]["zones"].append(new_zone)
    with pytest.raises(SiteFileError, match="deleted through the API"):
        import_site(api.db_url, parse_site(data, "test"))

    # the operator asks: the schedule comes back and the zones follow the file
    back = import_site(api.db_url, parse_site(data, "test"), overwrite_panel_edits=True)
    assert not back.kept_panel_edits
    conn.commit()
    site = read_site(conn)
    assert site.schedule("mezz").name == "Mezzanine (file)"
    assert site.building("hq").zone("z10").schedule == "mezz"
    assert conn.execute("SELECT retired_at FROM schedule_states WHERE key = 'mezz'").fetchone() == (None,)
