"""Secrets at rest: values sealed as ``fernet:...`` under SBEMS_SECRET_KEY are opened in the settings, for
a thermostat's own API key and webhook secret; a missing or wrong key is a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sbems.config import SettingsError, load_settings
from sbems.devices.base import DeviceError
from sbems.devices.registry import thermostat_api_key
from sbems.devices.webhook import signed_headers, webhook_signature
from sbems.domain.secret_box import SecretBoxError, new_key, reveal, seal
from sbems.domain.site import Site
from sbems.services.webhooks import webhook_app
from sbems.storage import entities
from tests.services.test_webhooks_security import SECRET, _event, _post, _Receiver

REPO = Path(__file__).resolve().parents[2]


def test_seal_and_reveal():
    key = new_key()
    sealed = seal("the api key", key)
    assert sealed.startswith("fernet:") and "the api key" not in sealed
    assert reveal(sealed, key) == "the api key"
    assert reveal("plain value", None) == "plain value" and reveal(None, key) is None
    with pytest.raises(SecretBoxError, match="SBEMS_SECRET_KEY is not set"):
        reveal(sealed, None, "SBEMS_X")
    with pytest.raises(SecretBoxError, match="cannot be decrypted"):
        reveal(sealed, new_key())
    with pytest.raises(SecretBoxError, match="not a valid key"):
        reveal(sealed, "short")
    with pytest.raises(SecretBoxError):
        reveal(sealed[:-4] + "AAAA", key)  # altered


def test_settings_open_sealed_secrets(monkeypatch):
    key = new_key()
    monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", seal("tstat-key", key))
    monkeypatch.setenv("SBEMS_WEBHOOK_SECRET", seal("hook-secret", key))
    monkeypatch.delenv("SBEMS_SECRET_KEY", raising=False)
    with pytest.raises(
        SettingsError, match="SBEMS_THERMOSTAT_API_KEY is encrypted .* SBEMS_SECRET_KEY is not set"
    ):
        load_settings(_env_file=None)
    monkeypatch.setenv("SBEMS_SECRET_KEY", key)
    settings = load_settings(_env_file=None)
    assert settings.thermostat_api_key.get_secret_value() == "tstat-key"
    assert settings.webhook_secret.get_secret_value() == "hook-secret"
    monkeypatch.setenv("SBEMS_SECRET_KEY", new_key())
    with pytest.raises(SettingsError, match="cannot be decrypted"):
        load_settings(_env_file=None)


def test_a_thermostats_own_sealed_api_key(example_site, monkeypatch):
    key = new_key()
    tstat = example_site.buildings[0].thermostats[0]
    monkeypatch.setenv(tstat.rest.api_key_env, seal("own-key", key))
    assert thermostat_api_key(tstat, "global", key) == "own-key"
    with pytest.raises(DeviceError, match="SBEMS_SECRET_KEY is not set"):
        thermostat_api_key(tstat, "global", None)


def test_a_sealed_webhook_secret_verifies_signatures(conn, db_url, example_site, monkeypatch):
    data = example_site.model_dump(mode="json")
    tstat = data["buildings"][0]["thermostats"][0]
    tstat["rest"]["webhook_secret_env"] = "TEST_SEALED_WEBHOOK_SECRET"
    entities.upsert_site(conn, site=Site.model_validate(data))
    conn.commit()
    key, own = new_key(), b"own-sealed-secret-of-this-thermostat"
    sealed = seal(own.decode(), key)
    monkeypatch.setenv("TEST_SEALED_WEBHOOK_SECRET", sealed)
    settings = load_settings(webhook_secret=SECRET.decode(), secret_key=key, _env_file=None)
    with _Receiver(webhook_app(db_url, settings)) as running:
        body = _event(device=tstat["rest"]["device_id"])
        assert _post(running.url, body, signed_headers(sealed.encode(), body)).status_code == 401
        stamp = int(time.time())
        headers = {"X-SBEMS-Timestamp": str(stamp), "X-SBEMS-Signature": webhook_signature(own, stamp, body)}
        assert _post(running.url, body, headers).status_code == 202
    # without the master key the thermostat's webhooks are refused, not accepted with the sealed text
    settings = load_settings(webhook_secret=SECRET.decode(), _env_file=None)
    with _Receiver(webhook_app(db_url, settings)) as running:
        body = _event(device=tstat["rest"]["device_id"])
        stamp = int(time.time())
        headers = {"X-SBEMS-Timestamp": str(stamp), "X-SBEMS-Signature": webhook_signature(own, stamp, body)}
        assert _post(running.url, body, headers).status_code == 401


def test_cli_new_key_and_seal():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SBEMS_")}
    env["PYTHONPATH"] = str(REPO)

    def run(*args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sbems.cli", "secrets", *args],
            input=stdin,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )

    key = run("new-key").stdout.strip()
    sealed = run("seal", stdin="s3cret\n", SBEMS_SECRET_KEY=key)
    assert sealed.returncode == 0, sealed.stderr
    assert reveal(sealed.stdout.strip(), key) == "s3cret"
    missing = run("seal", stdin="s3cret\n")
    assert missing.returncode == 2 and "SBEMS_SECRET_KEY is not set" in missing.stderr
