"""``GET/PUT /buildings/{id}/notification-routes`` over real HTTP: the panel's alert routing for integrators
(admins and facility managers with control or full access), targets masked as scheme://host, every change
and refusal audited with source ``api``, problems for refusals."""

from __future__ import annotations

import pytest

from sbems.domain.notifications import target_key
from sbems.services.notify_routes import panel_notify_config, read_routing

PROBLEM = "application/problem+json"
FM_URL = "json://hook:s3cret@127.0.0.1:9/fm-path"
ONCALL_URL = "json://127.0.0.1:9/oncall"
PATH = "/buildings/hq/notification-routes"


@pytest.fixture(autouse=True)
def _targets(monkeypatch):
    monkeypatch.setenv("SBEMS_NOTIFY_URLS", f"{FM_URL}?tag=facilities, {ONCALL_URL}?tag=oncall")


def _audit(conn) -> list[tuple]:
    return conn.execute(
        "SELECT actor, result, source, error_message FROM audit_log WHERE action = 'notify_route' ORDER BY id"
    ).fetchall()


def test_a_facility_manager_reads_and_replaces_the_routing(api, tokens, conn):
    oncall = target_key(ONCALL_URL)
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        response = client.get(PATH)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "s3cret" not in response.text and "fm-path" not in response.text and ":9" not in response.text
        assert [t["shown"] for t in body["targets"]] == ["json://127.0.0.1", "json://127.0.0.1"]
        assert [t["tags"] for t in body["targets"]] == [["facilities"], ["oncall"]]
        assert [i["severity"] for i in body["items"]] == ["critical", "warning", "info"]
        assert {i["source"] for i in body["items"]} == {"default"}

        update = {
            "items": [
                {"severity": "warning", "target_keys": [oncall]},
                {"severity": "critical", "tags": ["facilities", "oncall"]},
            ]
        }
        response = client.put(PATH, json=update)
        assert response.status_code == 200, response.text
        items = {i["severity"]: i for i in response.json()["items"]}
        assert items["warning"]["source"] == "panel" and items["warning"]["target_keys"] == [oncall]
        assert [t["key"] for t in items["warning"]["targets"]] == [oncall]
        assert len(items["critical"]["targets"]) == 2 and items["info"]["source"] == "default"
        assert items["warning"]["updated_by"] == "facility_manager@example.com"
        assert client.get(PATH).json()["items"] == response.json()["items"]

        # what delivery uses: the service reads the same routes
        routing = {r.severity: r for r in read_routing(api.db_url, "hq", panel_notify_config())}
        assert [t.key for t in routing["warning"].targets] == [oncall]

        # a severity left out goes back to the site file; an empty item routes to nobody
        response = client.put(PATH, json={"items": [{"severity": "info"}]})
        items = {i["severity"]: i for i in response.json()["items"]}
        assert items["warning"]["source"] == "default" and items["critical"]["source"] == "default"
        assert items["info"]["source"] == "panel" and items["info"]["targets"] == []
    rows = conn.execute("SELECT severity, tags, target_keys FROM notification_routes").fetchall()
    assert rows == [("info", [], [])]
    assert _audit(conn) == [
        ("facility_manager@example.com", "success", "api", None),
        ("facility_manager@example.com", "success", "api", None),
    ]


def test_refusals_are_problems_and_audited(api, tokens, conn, make_user):
    with api.client(tokens["facility_manager"]["access_token"]) as client:
        unknown = client.put(PATH, json={"items": [{"severity": "warning", "target_keys": ["0" * 16]}]})
        assert unknown.status_code == 422 and unknown.headers["content-type"].startswith(PROBLEM)
        assert "not in SBEMS_NOTIFY_URLS" in unknown.json()["detail"]
        twice = client.put(PATH, json={"items": [{"severity": "info"}, {"severity": "info", "tags": ["x"]}]})
        assert twice.status_code == 422 and "once" in twice.json()["detail"]
        for bad in (
            {"items": [{"severity": "urgent"}]},
            {"items": [{"severity": "info", "tags": ["Not A Tag"]}]},
            {"items": [{"severity": "info", "target_keys": ["short"]}]},
            {"routes": []},
        ):
            response = client.put(PATH, json=bad)
            assert response.status_code == 422, bad
            assert response.headers["content-type"].startswith(PROBLEM)
        assert client.get("/buildings/nope/notification-routes").status_code == 404
    for role in ("operator", "viewer"):
        with api.client(tokens[role]["access_token"]) as client:
            assert client.get(PATH).status_code == 403
            response = client.put(PATH, json={"items": [{"severity": "info"}]})
            assert response.status_code == 403 and response.headers["content-type"].startswith(PROBLEM)
    # a facility manager with read-only access to the building: as in the panel, neither read nor change
    email = make_user("facility_manager", email="ro-fm@example.com", access_level="readonly")
    token = api.login(email).json()["access_token"]
    with api.client(token) as client:
        assert client.get(PATH).status_code == 403
        assert client.put(PATH, json={"items": []}).status_code == 403
    with api.client() as client:
        assert client.get(PATH).status_code == 401 and client.put(PATH, json={"items": []}).status_code == 401
    assert conn.execute("SELECT count(*) FROM notification_routes").fetchone() == (0,)
    audit = _audit(conn)
    assert [(a, r, s) for a, r, s, _ in audit] == [
        ("facility_manager@example.com", "rejected", "api"),
        ("facility_manager@example.com", "rejected", "api"),
        ("operator@example.com", "rejected", "api"),
        ("viewer@example.com", "rejected", "api"),
        ("ro-fm@example.com", "rejected", "api"),
    ]
    assert "may not change alert routing" in audit[2][3]
