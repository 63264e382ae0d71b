"""Broadcast Who-Is across two network namespaces joined by a veth pair (root only).

Broadcast discovery cannot work on loopback (client and device must use different ports there);
in two namespaces both sides use 47808 on a real /24, as on a building network. Both ends of the
veth live in namespaces this test creates, so nothing leaves the machine.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sbems.domain.site import dump_site_yaml
from sbems.sim.harness import site_with_ports

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
]

CLIENT = r"""
import asyncio, json, sys, BAC0
async def main():
    BAC0.log_level("silence")
    async with BAC0.start(ip=sys.argv[1], port=47808, deviceId=3777) as bacnet:
        for _ in range(40):
            iams = await bacnet.who_is(timeout=1)          # global broadcast
            found = [(i.iAmDeviceIdentifier[1], str(i.pduSource)) for i in iams or []]
            if found:
                value = await bacnet.read(f"{found[0][1]} analogInput 0 presentValue")
                print(json.dumps({"found": found, "supply_temp_c": value}))
                return
        print(json.dumps({"found": []}))
asyncio.run(main())
"""


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def netns_pair():
    tag = f"{os.getpid() % 100000}"
    srv, ems = f"sbsim-s{tag}", f"sbsim-e{tag}"
    veth_s, veth_e = f"vss{tag}", f"vse{tag}"
    _ip("netns", "add", srv)
    _ip("netns", "add", ems)
    try:
        _ip("link", "add", veth_s, "type", "veth", "peer", "name", veth_e)
        _ip("link", "set", veth_s, "netns", srv)
        _ip("link", "set", veth_e, "netns", ems)
        _ip("-n", srv, "addr", "add", "10.99.0.10/24", "dev", veth_s)
        _ip("-n", ems, "addr", "add", "10.99.0.20/24", "dev", veth_e)
        for ns, dev in ((srv, veth_s), (ems, veth_e)):
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield srv, ems
    finally:
        subprocess.run(["ip", "netns", "del", srv], check=False)
        subprocess.run(["ip", "netns", "del", ems], check=False)


def test_broadcast_who_is_finds_the_simulated_unit(example_site, netns_pair):
    srv, ems = netns_pair
    site = site_with_ports(example_site, "hq", bacnet_ports={"rtu1": 47808}, host="10.99.0.10")
    workdir = Path(tempfile.mkdtemp(prefix="sbems-netns-"))
    (workdir / "site.yaml").write_text(dump_site_yaml(site))
    log = (workdir / "sim.log").open("wb")
    sim = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            srv,
            sys.executable,
            "-m",
            "sbems.sim.runner",
            "--site",
            str(workdir / "site.yaml"),
            "--paused",
            "--log-level",
            "WARNING",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        out = subprocess.run(
            ["ip", "netns", "exec", ems, sys.executable, "-c", CLIENT, "10.99.0.20/24"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["found"] and result["found"][0][0] == 1001
        assert result["found"][0][1].startswith("10.99.0.10")
        assert 5 < result["supply_temp_c"] < 40
    finally:
        sim.terminate()
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
        log.close()
