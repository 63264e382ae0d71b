"""Users and building access (admin), schedules (read, update), thermostats (list, status, setpoint
routing) over real HTTP."""

from __future__ import annotations

STRONG = "a long enough passphrase 42"


def test_admin_manages_users_and_access(api, tokens, conn):
    admin = tokens["admin"]["access_token"]
    with api.client(admin) as client:
        assert (
            client.post(
                "/users", json={"email": "w@example.com", "password": "password1234", "role": "viewer"}
            ).status_code
            == 422
        )
        created = client.post(
            "/users",
            json={"email": "New@Example.com", "password": STRONG, "role": "operator", "buildings": ["hq"]},
        )
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["email"] == "new@example.com" and user["access"] == [
            {"building_id": "hq", "access_level": "control", "granted_at": user["access"][0]["granted_at"]}
        ]
        again = client.post("/users", json={"email": "new@example.com", "password": STRONG, "role": "viewer"})
        assert again.status_code == 409
        assert "new@example.com" in [u["email"] for u in client.get("/users").json()["items"]]
    login = api.login("new@example.com", STRONG).json()
    with api.client(login["access_token"]) as client:
        assert client.get("/users/me").json()["role"] == "operator"
        assert client.get(f"/users/{user['id']}").status_code == 200  # themselves
        assert client.get("/users").status_code == 403
    with api.client(admin) as client:
        demoted = client.patch(f"/users/{user['id']}", json={"role": "viewer"})
        assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
        me = client.get("/users/me").json()
        assert client.patch(f"/users/{me['id']}", json={"active": False}).status_code == 409  # not themselves
        assert client.patch(f"/users/{me['id']}", json={"role": "viewer"}).status_code == 409
    with api.client(login["access_token"]) as client:  # the demotion ended the login
        assert client.get("/users/me").status_code == 401
    with api.client() as client:
        assert client.post("/auth/refresh", json={"refresh_token": login["refresh_token"]}).status_code == 401
    with api.client(admin) as client:
        assert client.delete(f"/users/{user['id']}/access/hq").status_code == 204
        assert client.delete(f"/users/{user['id']}/access/hq").status_code == 404
        assert client.get(f"/users/{user['id']}/access").json()["items"] == []
        granted = client.post(
            f"/users/{user['id']}/access", json={"building_id": "hq", "access_level": "readonly"}
        )
        assert [g["access_level"] for g in granted.json()["items"]] == ["readonly"]
        assert (
            client.post(
                f"/users/{user['id']}/access", json={"building_id": "nope", "access_level": "full"}
            ).status_code
            == 404
        )
    actions = [
        r[0]
        for r in conn.execute(
            "SELECT action FROM audit_log WHERE resource = 'user' AND resource_id = %s ORDER BY id",
            (user["id"],),
        ).fetchall()
    ]
    assert actions == ["create", "update", "revoke", "grant"]


def test_schedules_read_and_update(api, tokens, conn):
    with api.client(tokens["operator"]["access_token"]) as client:
        schedules = client.get("/buildings/hq/schedules").json()["items"]
        assert [s["id"] for s in schedules] == ["office-weekdays"] and "hq.z1" in schedules[0]["zone_ids"]
        assert client.get("/zones/hq.z1/schedules").json()["items"][0]["id"] == "office-weekdays"
        body = {"occupied_setpoint_c": 22.5, "unoccupied_setpoint_c": 27.0}
        assert client.patch("/schedules/office-weekdays", json=body).status_code == 403
    with api.client(tokens["viewer"]["access_token"]) as client:
        assert client.get("/schedules/office-weekdays").status_code == 403
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        changed = client.patch("/schedules/office-weekdays", json=body)
        assert changed.status_code == 200, changed.text
        assert changed.json()["items"][0]["occupied_setpoint_c"] == 22.5
        assert client.get("/schedules/office-weekdays").json()["items"][0]["unoccupied_setpoint_c"] == 27.0
        assert client.get("/schedules/nope").status_code == 404
    audit = conn.execute(
        "SELECT actor, result FROM audit_log WHERE resource = 'schedule' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert audit == ("facility_manager@example.com", "success")


def test_thermostats(api, tokens):
    with api.client(tokens["viewer"]["access_token"]) as client:
        items = client.get("/buildings/hq/thermostats").json()["items"]
        assert [t["id"] for t in items] == ["hq.tstat-z3", "hq.tstat-z4", "hq.tstat-z5", "hq.tstat-z6"]
        assert all(t["controls_zone"] for t in items)
        assert client.get("/zones/hq.z1/thermostats").json()["items"] == []
        assert [t["id"] for t in client.get("/zones/hq.z3/thermostats").json()["items"]] == ["hq.tstat-z3"]
        status = client.get("/thermostats/hq.tstat-z3/status").json()
        assert status["id"] == "hq.tstat-z3" and {p["sensor_type"] for p in status["points"]} >= {
            "temperature"
        }
        assert client.get("/thermostats/hq.nope").status_code == 404
        assert client.post("/thermostats/hq.tstat-z3/setpoint", json={"setpoint_c": 22.0}).status_code == 403
    with api.client(tokens["operator"]["access_token"]) as client:
        refused = client.post("/thermostats/hq.tstat-z3/setpoint", json={"setpoint_c": 30.0})
        assert refused.status_code == 422 and "18" in refused.json()["detail"]
