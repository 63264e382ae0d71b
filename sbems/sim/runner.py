"""Run the virtual building: the plant's clock and every endpoint, in one asyncio loop.

``serve(site, speed=60, seed=0, mqtt_url=None, ...)`` starts one BACnet/IP device per BACnet unit,
one Modbus TCP server per Modbus unit, one thermostat REST server per thermostat base URL, the MQTT
sensors (when a broker URL is given) and the control API, then steps the plant so that simulated
time runs ``speed`` times faster than wall time. ``main(argv)`` is the ``sbems sim`` command.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sbems.domain.site import Site, SiteFileError, parse_site, read_site_file
from sbems.sim.bacnet_device import BacnetUnitDevice
from sbems.sim.context import SimContext
from sbems.sim.control_api import build_control_app
from sbems.sim.faults import EQUIPMENT_FAULTS, ActiveFault, FaultBook, FaultSpec, zone_of_target
from sbems.sim.http_server import embedded_server
from sbems.sim.modbus_server import ModbusUnitServer
from sbems.sim.mqtt_sensors import MqttSensors
from sbems.sim.plant import Plant
from sbems.sim.thermostat_api import DEFAULT_API_KEY, ThermostatService, build_thermostat_app

log = logging.getLogger(__name__)

DEFAULT_CONTROL_PORT = 8099
TICK_WALL_S = 0.05
MAX_STEPS_PER_TICK = 2000
MAX_SPEED = 86_400.0


def default_start_utc(step_s: float) -> dt.datetime:
    """Now, floored to the step."""
    now = time.time()
    return dt.datetime.fromtimestamp(now - now % step_s, tz=dt.UTC)


class VirtualBuilding:
    """The plant, its clock and its endpoints (construct, ``await start()``, ``await run()``)."""

    def __init__(
        self,
        site: Site,
        building_id: str | None = None,
        *,
        speed: float = 60.0,
        seed: int = 0,
        start_utc: dt.datetime | None = None,
        step_s: float = 60.0,
        mqtt_url: str | None = None,
        mqtt_interval_s: float = 60.0,
        control_host: str = "127.0.0.1",
        control_port: int = DEFAULT_CONTROL_PORT,
        paused: bool = False,
        api_key: str | None = None,
    ) -> None:
        if not 0 < speed <= MAX_SPEED:
            raise ValueError(f"speed must be in (0, {MAX_SPEED:g}]")
        self.site = site
        self.building = site.building(building_id) if building_id else site.buildings[0]
        self.speed = float(speed)
        self.step_s = float(step_s)
        start = start_utc or default_start_utc(self.step_s)
        self.ctx = SimContext(Plant(site, self.building.id, start, seed=seed, step_s=step_s), FaultBook())
        self.mqtt_url = mqtt_url
        self.mqtt_interval_s = float(mqtt_interval_s)
        self.control_host, self.control_port = control_host, control_port
        self.paused = paused
        self.api_key = (
            api_key if api_key is not None else os.environ.get("SBEMS_THERMOSTAT_API_KEY", DEFAULT_API_KEY)
        )
        self.bacnet_devices: list[BacnetUnitDevice] = []
        self.modbus_servers: list[ModbusUnitServer] = []
        self.rest_services: list[tuple[str, ThermostatService, Any]] = []
        self.mqtt: MqttSensors | None = None
        self.control_server: Any = None
        self._fault_generation = -1
        self._last_publish_utc: dt.datetime | None = None
        self._stop = asyncio.Event()
        self._reset_clock_reference()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        plant = self.ctx.plant
        for unit in self.building.hvac_units:
            zone_id = unit.zone
            if unit.protocol == "bacnet" and unit.bacnet is not None:
                host, _, port = unit.bacnet.address.rpartition(":")
                device = BacnetUnitDevice(unit, zone_id, host, int(port))
                await device.start(self.ctx)
                self.bacnet_devices.append(device)
            elif unit.protocol == "modbus" and unit.modbus is not None and unit.modbus.framer == "tcp":
                server = ModbusUnitServer(
                    unit, zone_id, unit.modbus.host or "127.0.0.1", int(unit.modbus.port)
                )
                await server.start(self.ctx)
                self.modbus_servers.append(server)
        by_base: dict[tuple[str, int, str], dict[str, Any]] = {}
        for tstat in self.building.thermostats:
            parsed = urlparse(tstat.rest.base_url)
            key = (parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path or "/")
            by_base.setdefault(key, {})[tstat.rest.device_id] = tstat
        for (host, port, path), tstats in by_base.items():
            service = ThermostatService(self.ctx, tstats, self.api_key)
            server = embedded_server(build_thermostat_app(service, path), host, port)
            await server.start()
            self.rest_services.append((f"http://{host}:{port}{path.rstrip('/')}", service, server))
        if self.mqtt_url:
            self.mqtt = MqttSensors(self.building, self.mqtt_url)
            self.mqtt.start()
        self.control_server = embedded_server(build_control_app(self), self.control_host, self.control_port)
        await self.control_server.start()
        self._after_steps(force_publish=True)
        log.info("virtual building %s up at %s (speed %gx)", self.building.id, plant.now_utc, self.speed)

    async def stop(self) -> None:
        self._stop.set()
        for device in self.bacnet_devices:
            await device.stop()
        for server in self.modbus_servers:
            await server.stop()
        for _, _, http in self.rest_services:
            await http.stop()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.control_server is not None:
            await self.control_server.stop()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Step the plant on the wall clock until stopped."""
        while not self._stop.is_set():
            self._sync_devices()
            if not self.paused:
                target = self._sim_steps_at(time.monotonic())
                due = min(target - self.ctx.plant.step_index, MAX_STEPS_PER_TICK)
                if due > 0:
                    self._step(due)
                if target - self.ctx.plant.step_index > MAX_STEPS_PER_TICK:
                    self._reset_clock_reference()  # too slow to keep up: drop the backlog
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=TICK_WALL_S)
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ clock
    def _reset_clock_reference(self) -> None:
        self._wall0 = time.monotonic()
        self._steps0 = self.ctx.plant.step_index
        self._step_fraction0 = 0.0

    def _sim_steps_at(self, wall: float) -> int:
        return self._steps0 + math.floor((wall - self._wall0) * self.speed / self.step_s)

    def set_clock(self, paused: bool | None = None, speed: float | None = None) -> None:
        if speed is not None:
            if not 0 < speed <= MAX_SPEED:
                raise ValueError(f"speed must be in (0, {MAX_SPEED:g}]")
            self.speed = float(speed)
        if paused is not None:
            self.paused = paused
        self._reset_clock_reference()

    async def advance(self, seconds: float) -> None:
        """Step the plant by ``seconds`` of simulated time right now (clock paused or not)."""
        self._sync_devices()
        self._step(max(1, round(seconds / self.step_s)))
        self._reset_clock_reference()

    def _step(self, count: int) -> None:
        plant = self.ctx.plant
        for _ in range(count):
            if self.ctx.faults.generation != self._fault_generation:
                self.ctx.apply_faults()
                self._fault_generation = self.ctx.faults.generation
            plant.step()
            for _, service, _ in self.rest_services:
                service.after_tick()
            if self.mqtt is not None and self._publish_due():
                self._publish()
        self._after_steps()

    def _publish_due(self) -> bool:
        last = self._last_publish_utc
        return last is None or (self.ctx.plant.now_utc - last).total_seconds() >= self.mqtt_interval_s - 1e-6

    def _publish(self) -> None:
        if self.mqtt is not None:
            self.mqtt.publish(self.ctx)
            self._last_publish_utc = self.ctx.plant.now_utc

    def _after_steps(self, force_publish: bool = False) -> None:
        if self.ctx.faults.generation != self._fault_generation:
            self.ctx.apply_faults()
            self._fault_generation = self.ctx.faults.generation
        for device in self.bacnet_devices:
            device.refresh(self.ctx)
        if force_publish and self.mqtt is not None:
            self._publish()

    def _sync_devices(self) -> None:
        for device in self.bacnet_devices:
            device.sync(self.ctx)

    # ------------------------------------------------------------------ faults
    def known_targets(self) -> set[str]:
        b = self.building
        ids = {u.id for u in b.hvac_units} | {t.id for t in b.thermostats} | {s.id for s in b.sensors}
        ids |= {t.rest.device_id for t in b.thermostats} | {z.id for z in b.zones}
        return ids | {"*"}

    def inject_fault(self, spec: FaultSpec) -> ActiveFault:
        if spec.target not in self.known_targets():
            raise KeyError(f"unknown fault target {spec.target!r}")
        if spec.kind in EQUIPMENT_FAULTS:
            zone_of_target(self.ctx.plant, spec.target)  # raises KeyError when no zone is served
        fault = self.ctx.faults.inject(spec, self.ctx.plant.now_utc)
        self._after_steps()
        return fault

    def clear_faults(self, fault_id: int | None = None) -> list[ActiveFault]:
        cleared = self.ctx.faults.clear(fault_id)
        self._after_steps()
        return cleared

    # ------------------------------------------------------------------ views
    def snapshot_time(self) -> str:
        return self.ctx.plant.now_utc.isoformat().replace("+00:00", "Z")

    def state(self) -> dict[str, Any]:
        data = self.ctx.plant.snapshot()
        data.update(
            paused=self.paused,
            speed=self.speed,
            step_s=self.step_s,
            faults=[f.as_dict() for f in self.ctx.faults.active()],
            mqtt_published=self.mqtt.published if self.mqtt else 0,
        )
        return data

    def endpoints(self) -> dict[str, Any]:
        return {
            "building_id": self.building.id,
            "bacnet": {
                d.unit.id: {"address": d.address, "device_id": d.unit.bacnet.device_id, "zone_id": d.zone_id}
                for d in self.bacnet_devices
            },
            "modbus": {
                s.unit.id: {"host": s.host, "port": s.port, "unit_id": s.unit_id, "zone_id": s.zone_id}
                for s in self.modbus_servers
            },
            "rest": {base: sorted(service.thermostats) for base, service, _ in self.rest_services},
            "mqtt_url": self.mqtt_url,
            "control_url": f"http://{self.control_host}:{self.control_port}",
        }


async def serve(
    site: Site,
    *,
    building_id: str | None = None,
    speed: float = 60.0,
    seed: int = 0,
    mqtt_url: str | None = None,
    start_utc: dt.datetime | None = None,
    step_s: float = 60.0,
    mqtt_interval_s: float = 60.0,
    control_port: int = DEFAULT_CONTROL_PORT,
    paused: bool = False,
    ready: Callable[[VirtualBuilding], None] | None = None,
) -> None:
    """Run the virtual building until cancelled or SIGINT/SIGTERM. Ports come from the site file."""
    vb = VirtualBuilding(
        site,
        building_id,
        speed=speed,
        seed=seed,
        start_utc=start_utc,
        step_s=step_s,
        mqtt_url=mqtt_url,
        mqtt_interval_s=mqtt_interval_s,
        control_port=control_port,
        paused=paused,
    )
    loop = asyncio.get_running_loop()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, vb.request_stop)
    except (NotImplementedError, RuntimeError):  # not the main thread
        pass
    try:
        await vb.start()
        if ready is not None:
            ready(vb)
        await vb.run()
    finally:
        await vb.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sbems sim", description="Run the virtual building on loopback.")
    parser.add_argument("--site", default="examples/site.yaml", help="site file (ports are taken from it)")
    parser.add_argument("--building", default=None, help="building id (default: the first)")
    parser.add_argument(
        "--speed", type=float, default=60.0, help="simulated seconds per wall second (1..3600)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--mqtt-url", default=None, help="broker for the MQTT sensors, e.g. mqtt://127.0.0.1:1883"
    )
    parser.add_argument(
        "--mqtt-interval-s", type=float, default=60.0, help="simulated seconds between readings"
    )
    parser.add_argument("--start", default=None, help="simulated start, ISO-8601 (default: now); naive = UTC")
    parser.add_argument("--step-s", type=float, default=60.0, help="plant step, simulated seconds")
    parser.add_argument("--control-port", type=int, default=DEFAULT_CONTROL_PORT)
    parser.add_argument("--paused", action="store_true", help="start with the clock paused")
    parser.add_argument("--log-level", default="INFO")
    return parser


def parse_start(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def load_site(path: str) -> Site:
    """The site file; a ``.json`` one (what the test harness writes) skips the slow YAML parser."""
    if not path.endswith(".json"):
        return read_site_file(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SiteFileError(f"{path}: cannot read as JSON: {exc}") from None
    return parse_site(data, path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    site = load_site(args.site)

    def _ready(vb: VirtualBuilding) -> None:
        print(
            f"sbems sim: building {vb.building.id} at {vb.snapshot_time()}, speed {vb.speed:g}x; "
            f"control {vb.endpoints()['control_url']}",
            flush=True,
        )

    asyncio.run(
        serve(
            site,
            building_id=args.building,
            speed=args.speed,
            seed=args.seed,
            mqtt_url=args.mqtt_url,
            start_utc=parse_start(args.start),
            step_s=args.step_s,
            mqtt_interval_s=args.mqtt_interval_s,
            control_port=args.control_port,
            paused=args.paused,
            ready=_ready,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
