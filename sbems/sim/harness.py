"""Start the virtual building for a test: free ports, a subprocess, and a handle with its endpoints.

    with running_sim(site, speed=600, seed=1, start_utc=...) as sim:
        sim.bacnet["rtu1"]      # {"address": "127.0.0.1:40123", "device_id": 1001, "zone_id": "z1"}
        sim.modbus["rtu2"]      # {"host": "127.0.0.1", "port": 40124, "unit_id": 1, "zone_id": "z2"}
        sim.rest_base_url       # "http://127.0.0.1:40125/api/v1"
        sim.site                # a copy of the site with those ports
        sim.state()["zones"]["z1"]["zone_temp_c"]; sim.inject_fault(kind="offline", target="rtu2")

The simulator runs in its own process (BAC0 needs its own running loop; the global BAC0 object
registry stays out of the test process). Ports are chosen free by the OS, so parallel tests do
not clash.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sbems.domain.site import Site, parse_site
from sbems.runtime import free_port

STARTUP_TIMEOUT_S = 180.0  # generous: a loaded 2-core CI machine starts it in 20-60 s
PORT_RETRIES = 3


class PortTakenError(RuntimeError):
    """The simulator could not bind a port that was free when it was picked."""


def site_with_ports(
    site: Site,
    building_id: str,
    *,
    bacnet_ports: dict[str, int] | None = None,
    modbus_ports: dict[str, int] | None = None,
    rest_port: int | None = None,
    host: str | None = None,
) -> Site:
    """A copy of ``site`` whose building serves on the given ports (and host, when given)."""
    data = site.model_dump(mode="json", exclude_none=True)
    building = next(b for b in data["buildings"] if b["id"] == building_id)
    for unit in building.get("hvac_units", []):
        if "bacnet" in unit and bacnet_ports and unit["id"] in bacnet_ports:
            old_host = unit["bacnet"]["address"].rpartition(":")[0]
            unit["bacnet"]["address"] = f"{host or old_host}:{bacnet_ports[unit['id']]}"
        if "modbus" in unit and modbus_ports and unit["id"] in modbus_ports:
            unit["modbus"]["port"] = modbus_ports[unit["id"]]
            if host:
                unit["modbus"]["host"] = host
    if rest_port is not None:
        for tstat in building.get("thermostats", []):
            parsed = urlparse(tstat["rest"]["base_url"])
            tstat["rest"]["base_url"] = (
                f"{parsed.scheme}://{host or parsed.hostname}:{rest_port}{parsed.path}"
            )
    return parse_site(data, "<site with test ports>")


@dataclass
class SimHandle:
    """Endpoints of a running virtual building and a small client for its control API."""

    site: Site
    building_id: str
    control_url: str
    bacnet: dict[str, dict[str, Any]]
    modbus: dict[str, dict[str, Any]]
    rest_base_url: str | None
    mqtt_url: str | None
    api_key: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        response = httpx.request(method, self.control_url + path, timeout=30.0, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def state(self) -> dict[str, Any]:
        """The plant snapshot: time, weather, building power, per-zone states, faults."""
        return self._request("GET", "/sim/state")

    def zone(self, zone_id: str) -> dict[str, Any]:
        return self.state()["zones"][zone_id]

    def advance(self, seconds: float) -> dict[str, Any]:
        """Step the plant by ``seconds`` of simulated time now; returns the new state."""
        return self._request("POST", "/sim/advance", json={"seconds": seconds})

    def set_clock(self, paused: bool | None = None, speed: float | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("paused", paused), ("speed", speed)) if v is not None}
        return self._request("POST", "/sim/clock", json=body)

    def inject_fault(self, **spec: Any) -> dict[str, Any]:
        return self._request("POST", "/sim/faults", json=spec)

    def clear_faults(self, fault_id: int | None = None) -> dict[str, Any]:
        return self._request("DELETE", "/sim/faults" + (f"/{fault_id}" if fault_id is not None else ""))

    def faults(self) -> list[dict[str, Any]]:
        return self._request("GET", "/sim/faults")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


@contextlib.contextmanager
def running_sim(
    site: Site,
    *,
    building_id: str | None = None,
    speed: float = 60.0,
    seed: int = 0,
    mqtt_url: str | None = None,
    start_utc: dt.datetime | None = None,
    step_s: float = 60.0,
    mqtt_interval_s: float = 60.0,
    paused: bool = False,
    api_key: str = "sbems-test-key",
    host: str = "127.0.0.1",
    startup_timeout_s: float = STARTUP_TIMEOUT_S,
) -> Iterator[SimHandle]:
    """Run the virtual building in a subprocess on free loopback ports; yields a :class:`SimHandle`.

    A port reported free can be taken by another process before the simulator binds it (other
    test workers, outgoing connections from the same ephemeral range): the start is retried on
    fresh ports, up to :data:`PORT_RETRIES` times, when that is why the simulator exited.
    """
    started = False
    for attempt in range(PORT_RETRIES):
        try:
            with _running_sim_once(
                site,
                building_id=building_id,
                speed=speed,
                seed=seed,
                mqtt_url=mqtt_url,
                start_utc=start_utc,
                step_s=step_s,
                mqtt_interval_s=mqtt_interval_s,
                paused=paused,
                api_key=api_key,
                host=host,
                startup_timeout_s=startup_timeout_s,
            ) as handle:
                started = True
                yield handle
                return
        except PortTakenError:
            if started or attempt == PORT_RETRIES - 1:
                raise


@contextlib.contextmanager
def _running_sim_once(
    site: Site,
    *,
    building_id: str | None,
    speed: float,
    seed: int,
    mqtt_url: str | None,
    start_utc: dt.datetime | None,
    step_s: float,
    mqtt_interval_s: float,
    paused: bool,
    api_key: str,
    host: str,
    startup_timeout_s: float,
) -> Iterator[SimHandle]:
    building = site.building(building_id) if building_id else site.buildings[0]
    bacnet_ports = {
        u.id: free_port(socket.SOCK_DGRAM, host) for u in building.hvac_units if u.protocol == "bacnet"
    }
    modbus_ports = {u.id: free_port(host=host) for u in building.hvac_units if u.protocol == "modbus"}
    rest_port = free_port(host=host) if building.thermostats else None
    control_port = free_port(host=host)
    test_site = site_with_ports(
        site,
        building.id,
        bacnet_ports=bacnet_ports,
        modbus_ports=modbus_ports,
        rest_port=rest_port,
        host=host,
    )
    workdir = Path(tempfile.mkdtemp(prefix="sbems-sim-"))
    site_path = workdir / "site.json"  # JSON (a YAML subset): a 10k-point site parses in a second, not 30
    site_path.write_text(json.dumps(test_site.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    log_path = workdir / "sim.log"
    argv = [
        sys.executable,
        "-m",
        "sbems.sim.runner",
        "--site",
        str(site_path),
        "--building",
        building.id,
        "--speed",
        str(speed),
        "--seed",
        str(seed),
        "--step-s",
        str(step_s),
        "--control-port",
        str(control_port),
        "--mqtt-interval-s",
        str(mqtt_interval_s),
        "--log-level",
        "WARNING",
    ]
    if start_utc is not None:
        argv += ["--start", start_utc.astimezone(dt.UTC).isoformat()]
    if mqtt_url:
        argv += ["--mqtt-url", mqtt_url]
    if paused:
        argv.append("--paused")
    env = {**os.environ, "SBEMS_THERMOSTAT_API_KEY": api_key, "PYTHONUNBUFFERED": "1"}
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=str(Path(__file__).resolve().parents[2])
    )
    tstats = building.thermostats
    rest_base = None
    if tstats:
        rest_base = next(t.rest.base_url for t in test_site.building(building.id).thermostats)
    handle = SimHandle(
        site=test_site,
        building_id=building.id,
        control_url=f"http://{host}:{control_port}",
        bacnet={
            u.id: {"address": u.bacnet.address, "device_id": u.bacnet.device_id, "zone_id": u.zone}
            for u in test_site.building(building.id).hvac_units
            if u.protocol == "bacnet"
        },
        modbus={
            u.id: {
                "host": u.modbus.host,
                "port": u.modbus.port,
                "unit_id": u.modbus.unit_id,
                "zone_id": u.zone,
            }
            for u in test_site.building(building.id).hvac_units
            if u.protocol == "modbus"
        },
        rest_base_url=rest_base,
        mqtt_url=mqtt_url,
        api_key=api_key,
        process=process,
        log_path=log_path,
    )
    try:
        _wait_ready(handle, startup_timeout_s)
        yield handle
    finally:
        _stop(process)
        log_file.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(handle: SimHandle, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if handle.process is not None and handle.process.poll() is not None:
            log = handle.log_text()[-4000:]
            error = PortTakenError if "address already in use" in log else RuntimeError
            raise error(f"simulator exited with {handle.process.returncode}:\n{log}")
        try:
            if httpx.get(handle.control_url + "/sim/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)  # not listening yet
            continue
        time.sleep(0.1)
    raise TimeoutError(f"simulator not ready after {timeout_s} s:\n{handle.log_text()[-4000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
