"""The example deployment (sbems/deployments/mosquitto) on a real mosquitto: passwords, per-client ACLs and
TLS; the listener connects with TLS and credentials and stores a device's reading, while a device's
publish outside its own subtree never reaches it."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sbems.listener import Listener
from sbems.runtime import free_port, wait_for_port
from tests.listener.conftest import test_options
from tests.listener.support import count_readings, wait_for_count

DEPLOYMENT = Path(__file__).resolve().parents[2] / "sbems" / "deployments" / "mosquitto"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
USERS = {"sbems-listener": "listener-secret", "hq-z1": "z1-secret", "hq-rtu1": "rtu1-secret"}

pytestmark = pytest.mark.skipif(
    not (Path(MOSQUITTO).exists() and shutil.which("mosquitto_passwd") and shutil.which("openssl")),
    reason="needs mosquitto and openssl",
)


def _run(*cmd: str, cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def _certificates(directory: Path) -> None:
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=sbems-test-ca",
        cwd=directory,
    )
    _run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
        cwd=directory,
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        cwd=directory,
    )


@pytest.fixture(scope="module")
def secured_broker() -> Iterator[tuple[int, int, Path]]:
    work = Path(tempfile.mkdtemp(prefix="sbems-mosquitto-acl-"))
    work.chmod(0o755)
    (work / "persist").mkdir(mode=0o777)
    (work / "persist").chmod(0o777)
    _certificates(work)
    passwd = work / "passwd"
    for user, password in USERS.items():
        _run(
            "mosquitto_passwd",
            *(["-c"] if not passwd.exists() else []),
            "-b",
            str(passwd),
            user,
            password,
            cwd=work,
        )
    shutil.copy(DEPLOYMENT / "acl", work / "acl")
    plain, tls = free_port(), free_port()
    conf = (DEPLOYMENT / "mosquitto.conf").read_text()
    conf = (
        conf.replace("/etc/mosquitto/sbems.passwd", str(passwd))
        .replace("/etc/mosquitto/sbems.acl", str(work / "acl"))
        .replace("/var/lib/mosquitto/", f"{work}/persist/")
        .replace("/etc/mosquitto/certs", str(work))
        .replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
        .replace("listener 8883", f"listener {tls} 127.0.0.1")
    )
    (work / "mosquitto.conf").write_text(conf)
    for path in work.iterdir():
        if path.is_file():
            path.chmod(0o644)
    log = open(work / "broker.log", "wb")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(work / "mosquitto.conf")], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port("127.0.0.1", plain, 10)
        wait_for_port("127.0.0.1", tls, 10)
        yield plain, tls, work
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def _connect(port: int, user: str | None, password: str | None) -> tuple[mqtt.Client, object]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}")
    result = {}
    client.on_connect = lambda c, u, flags, rc, props: result.setdefault("rc", rc)
    if user:
        client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    deadline = time.monotonic() + 5
    while "rc" not in result and time.monotonic() < deadline:
        time.sleep(0.02)
    return client, result.get("rc")


def _reading(zone: str, device: str, at: datetime) -> bytes:
    return json.dumps(
        {
            "deviceId": device,
            "zoneId": zone,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "value": 21.0,
            "unit": "celsius",
        }
    ).encode()


def test_anonymous_and_wrong_password_are_refused(secured_broker):
    plain, _, _ = secured_broker
    for user, password in ((None, None), ("hq-z1", "wrong")):
        client, rc = _connect(plain, user, password)
        client.loop_stop()
        assert rc is not None and rc.is_failure, (user, rc)


def test_listener_over_tls_stores_only_what_devices_may_publish(secured_broker, site_db, tmp_path):
    plain, tls, work = secured_broker
    listener = Listener(
        mqtt_url=f"mqtts://127.0.0.1:{tls}",
        database_url=site_db,
        data_dir=tmp_path,
        options=test_options(),
        mqtt_username="sbems-listener",
        mqtt_password=USERS["sbems-listener"],
        mqtt_ca_file=work / "ca.crt",
    ).start()
    try:
        assert listener.wait_subscribed(15), (work / "broker.log").read_text()
        device, rc = _connect(plain, "hq-z1", USERS["hq-z1"])
        assert not rc.is_failure
        at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        own = device.publish("sbems/building/hq/zone/z1/temperature", _reading("z1", "z1-temp", at), qos=1)
        # z1's gateway pretending to be zone z2: the broker drops it (ACL), the listener never sees it
        other = device.publish("sbems/building/hq/zone/z2/temperature", _reading("z2", "z2-temp", at), qos=1)
        own.wait_for_publish(5)
        other.wait_for_publish(5)
        device.disconnect()
        device.loop_stop()
        assert wait_for_count(site_db, 1, 15) == 1
        time.sleep(1.0)
        assert count_readings(site_db) == 1
        assert listener.metrics.received._value.get() == 1
    finally:
        listener.stop()
