"""``/api/v1/alert-rules`` over real HTTP: add (201 with the id), list, read, change (PUT, PATCH), delete;
the listener's view of the rule follows; building access and site-wide rules; bad drafts as problem+json;
every change and refusal audited; concurrent adds each get their own id."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sbems.storage.alerts import read_alert_rules

PROBLEM = "application/problem+json"
RULE = {
    "building_id": "hq",
    "name": "Z1 too warm",
    "metric_name": "temperature",
    "comparison": ">",
    "threshold_value": 27.5,
    "severity": "warning",
    "duration_s": 600,
    "zone_id": "hq.z1",
}


def _audit(conn) -> list[tuple]:
    return conn.execute(
        "SELECT action, result, source, resource_id FROM audit_log WHERE resource = 'alert_rule' ORDER BY id"
    ).fetchall()


def test_a_facility_manager_adds_changes_and_deletes_a_rule(api, tokens, conn):
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        added = client.post("/alert-rules", json=RULE)
        assert added.status_code == 201, added.text
        rule = added.json()
        assert added.headers["location"].endswith(f"/alert-rules/{rule['id']}")
        assert {k: rule[k] for k in RULE} == RULE and rule["cooldown_s"] == 900 and rule["enabled"]
        (stored,) = read_alert_rules(conn)  # what the listener loads
        assert str(stored.id) == rule["id"] and stored.duration_s == 600 and stored.threshold_value == 27.5

        assert client.get("/alert-rules", params={"building_id": "hq"}).json()["items"] == [rule]
        assert client.get(f"/alert-rules/{rule['id']}").json() == rule

        patched = client.patch(f"/alert-rules/{rule['id']}", json={"severity": "critical", "zone_id": None})
        assert patched.status_code == 200, patched.text
        assert (patched.json()["severity"], patched.json()["zone_id"]) == ("critical", None)
        assert patched.json()["threshold_value"] == 27.5  # untouched fields stay

        body = {k: v for k, v in RULE.items() if k != "building_id"} | {"enabled": False, "cooldown_s": 60}
        replaced = client.put(f"/alert-rules/{rule['id']}", json=body)
        assert replaced.status_code == 200, replaced.text
        assert replaced.json()["severity"] == "warning" and replaced.json()["zone_id"] == "hq.z1"
        assert read_alert_rules(conn) == []  # disabled: the listener no longer loads it
        assert read_alert_rules(conn, enabled_only=False)[0].cooldown_s == 60

        assert client.delete(f"/alert-rules/{rule['id']}").status_code == 204
        gone = client.get(f"/alert-rules/{rule['id']}")
        assert gone.status_code == 404 and gone.headers["content-type"].startswith(PROBLEM)
        assert client.delete(f"/alert-rules/{rule['id']}").status_code == 404
    assert read_alert_rules(conn, enabled_only=False) == []
    audit = _audit(conn)
    assert [(a, r, s) for a, r, s, _ in audit] == [
        ("alert_rule", "success", "api"),
        ("alert_rule", "success", "api"),
        ("alert_rule", "success", "api"),
        ("alert_rule_delete", "success", "api"),
    ]
    assert {rid for *_, rid in audit} == {rule["id"]}


def test_bad_drafts_are_422_problems_and_nothing_is_stored(api, tokens, conn):
    with api.client(tokens["admin"]["access_token"]) as client:
        for bad in (
            {**RULE, "comparison": "="},
            {**RULE, "severity": "urgent"},
            {**RULE, "duration_s": -1},
            {**RULE, "zone_id": "hq.nope"},  # no such zone: the service refuses it
            {**RULE, "zone_id": "other.z1"},  # a zone of another building
            {**RULE, "name": "   "},
            {**RULE, "name": "nul\x00name"},
            {**RULE, "extra": 1},
        ):
            response = client.post("/alert-rules", json=bad)
            assert response.status_code == 422, (bad, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["status"] == 422
        assert client.post("/alert-rules", json={**RULE, "building_id": "nope"}).status_code == 404
        rule = client.post("/alert-rules", json=RULE).json()
        refused = client.patch(f"/alert-rules/{rule['id']}", json={"metric_name": " "})
        assert refused.status_code == 422 and "metric" in refused.json()["detail"]
    assert len(read_alert_rules(conn)) == 1
    rejected = [row for row in _audit(conn) if row[1] == "rejected"]
    assert len(rejected) == 4  # the service's refusals (unknown zone, blank name, NUL, blank metric)


def test_building_access_and_site_wide_rules(api, tokens, conn, make_user):
    site_wide = conn.execute(
        "INSERT INTO alert_rules (name, metric_name, comparison, threshold_value, severity) "
        "VALUES ('CO2 everywhere', 'co2', '>', 1500, 'info') RETURNING id"
    ).fetchone()[0]
    conn.commit()
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        (listed,) = client.get("/alert-rules").json()["items"]
        assert listed["site_wide"] and listed["building_id"] is None
        refused = client.patch(f"/alert-rules/{site_wide}", json={"threshold_value": 1400})
        assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM)
        assert client.delete(f"/alert-rules/{site_wide}").status_code == 403
    with api.client(tokens["admin"]["access_token"]) as client:
        changed = client.patch(f"/alert-rules/{site_wide}", json={"threshold_value": 1400})
        assert changed.status_code == 200 and changed.json()["site_wide"]
    # a facility manager with read-only access to hq reads its rules but may not change them
    make_user("facility_manager", email="ro@example.com", access_level="readonly")
    with api.client(api.login("ro@example.com").json()["access_token"]) as client:
        assert client.get("/alert-rules", params={"building_id": "hq"}).status_code == 200
        refused = client.post("/alert-rules", json=RULE)
        assert refused.status_code == 403, refused.text
    # and one without any grant sees no building: 404, as for an unknown one
    make_user("facility_manager", email="none@example.com", buildings=[])
    with api.client(api.login("none@example.com").json()["access_token"]) as client:
        assert client.post("/alert-rules", json=RULE).status_code == 404
        assert client.get("/alert-rules", params={"building_id": "hq"}).status_code == 404
    rejected = conn.execute(
        "SELECT actor FROM audit_log WHERE resource = 'alert_rule' AND result = 'rejected'"
    ).fetchall()
    assert ("ro@example.com",) in rejected


def test_concurrent_adds_each_return_their_own_rule(api, tokens, conn):
    def add(index: int) -> dict:
        with api.client(tokens["facility_manager"]["access_token"]) as client:
            response = client.post("/alert-rules", json={**RULE, "name": f"rule {index}"})
            assert response.status_code == 201, response.text
            return response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        added = list(pool.map(add, range(16)))
    assert len({r["id"] for r in added}) == 16
    stored = {str(r.id): r.name for r in read_alert_rules(conn)}
    assert all(stored[r["id"]] == r["name"] for r in added)
