"""Login, MFA for admins, refresh rotation, logout revocation and the per-request re-check, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from sbems.services.tokens import ACCESS_S
from tests.api.conftest import SECRET

PROBLEM = "application/problem+json"


def test_login_returns_a_bearer_pair(api, make_user):
    email = make_user("operator")
    response = api.login(email)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["refresh_token"] and body["expires_in"] == ACCESS_S
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience="sbems-api")
    assert claims["exp"] - claims["iat"] == ACCESS_S
    with api.client(body["access_token"]) as client:
        assert client.get("/buildings").json()["items"][0]["id"] == "hq"


def test_wrong_password_is_a_401_problem(api, make_user):
    email = make_user("operator")
    response = api.login(email, password="not the password at all")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "access_token" not in response.json()


def test_admin_gets_no_token_without_totp(api, make_user, enrol_totp):
    email = make_user("admin")
    # never enrolled: refused, told to enrol
    response = api.login(email)
    assert response.status_code == 401 and "access_token" not in response.json()
    assert response.json()["type"].endswith("/mfa-required")
    totp = enrol_totp(email)
    response = api.login(email)
    assert response.status_code == 401 and "access_token" not in response.json()
    assert response.json()["type"].endswith("/mfa-required")
    assert "multi-factor" in response.json()["detail"]
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    assert api.login(email, totp=wrong).status_code == 401
    response = api.login(email, totp=totp.now())
    assert response.status_code == 200 and response.json()["access_token"]


def test_refresh_rotates_and_a_reused_token_ends_the_login(api, make_user):
    first = api.login(make_user("viewer")).json()
    with api.client() as client:
        second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert second.status_code == 200
        second = second.json()
        assert second["refresh_token"] != first["refresh_token"]
        # the old refresh token stops working ...
        again = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert again.status_code == 401 and again.headers["content-type"].startswith(PROBLEM)
        # ... and presenting it again revoked the whole login, the new pair included
        assert (
            client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
        )
    with api.client(second["access_token"]) as client:
        assert client.get("/buildings").status_code == 401


def test_logout_revokes_refresh_and_access_tokens(api, make_user):
    email = make_user("operator")
    pair = api.login(email).json()
    other = api.login(email).json()  # a second login of the same user stays open
    with api.client(pair["access_token"]) as client:
        assert client.get("/buildings").status_code == 200
        assert client.post("/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code == 204
        response = client.get("/buildings")
        assert response.status_code == 401 and "logged out" in response.json()["detail"]
        assert client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    with api.client(other["access_token"]) as client:
        assert client.get("/buildings").status_code == 200


def test_deactivated_or_demoted_users_lose_access_at_once(api, make_user, conn):
    fm = api.login(make_user("facility_manager")).json()
    op = api.login(make_user("operator")).json()
    with api.client(fm["access_token"]) as client:
        assert client.get("/buildings/hq/control-history").status_code == 200
    conn.execute("UPDATE users SET role = 'viewer' WHERE email = 'facility_manager@example.com'")
    conn.execute("UPDATE users SET active = false WHERE email = 'operator@example.com'")
    conn.commit()
    with api.client(fm["access_token"]) as client:
        assert client.get("/buildings/hq/control-history").status_code == 403  # viewers have no read:audit
        assert client.get("/buildings").status_code == 200
    with api.client(op["access_token"]) as client:
        assert client.get("/buildings").status_code == 401
        assert client.post("/auth/refresh", json={"refresh_token": op["refresh_token"]}).status_code == 401


def test_forged_and_expired_access_tokens_are_refused(api, make_user):
    pair = api.login(make_user("operator")).json()
    claims = jwt.decode(pair["access_token"], SECRET, algorithms=["HS256"], audience="sbems-api")
    forged = jwt.encode(claims, "another-key-of-at-least-thirty-two-chars", algorithm="HS256")
    past = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    expired = jwt.encode({**claims, "iat": past - 60, "exp": past}, SECRET, algorithm="HS256")
    unsigned = jwt.encode({**claims}, None, algorithm="none")
    for token in (forged, expired, unsigned, "garbage"):
        with api.client(token) as client:
            response = client.get("/buildings")
            assert response.status_code == 401, token
            assert response.headers["www-authenticate"] == "Bearer"
