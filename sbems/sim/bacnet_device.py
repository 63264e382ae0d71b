"""A simulated Trane rooftop unit as a BACnet/IP device (BAC0 on bacpypes3), backed by the plant.

It serves the unit's point map (seed §6.1) in vendor units: AIs (supply/return temperature,
discharge pressure in psi, supply flow in cfm), commandable AVs (cooling setpoint, fan speed, heating
setpoint; priority array and relinquishDefault), BIs (run status, fault), BVs (enable, mode select)
and an MSV (mode: off/cool/heat/auto).
ReadProperty, ReadPropertyMultiple, WriteProperty with priority, COV and Who-Is/I-Am come from
bacpypes3. Each setpoint AV's relinquishDefault follows the zone's schedule, so the unit's
effective setpoint is the priority array's winner, else the schedule (the plant's active setpoint).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sbems.domain.site import BacnetPoint, HvacUnit
from sbems.sim.context import SimContext
from sbems.sim.points import BACNET_UNITS, from_vendor, point_values_si, to_vendor

log = logging.getLogger(__name__)

# extra objects every simulated unit serves when the point map does not use them
EXTRA_POINTS: dict[str, BacnetPoint] = {
    "zone_temp_c": BacnetPoint(object="analogInput:4", quantity="temperature", vendor_unit="degreesCelsius"),
    "power_kw": BacnetPoint(object="analogInput:5", quantity="power", vendor_unit="kilowatts"),
}


def served_points(unit: HvacUnit) -> dict[str, BacnetPoint]:
    """The unit's point map plus the extra points whose object ids are free."""
    points = dict(unit.bacnet_points)
    used = {p.object for p in points.values()}
    for name, point in EXTRA_POINTS.items():
        if name not in points and point.object not in used:
            points[name] = point
    return points


def bacnet_ip_with_mask(host: str) -> str:
    """BAC0 wants ``ip/mask``: /8 on loopback, /24 elsewhere (e.g. a test's veth network)."""
    if "/" in host:
        return host
    return f"{host}/8" if host.startswith("127.") else f"{host}/24"


@dataclass
class BacnetUnitDevice:
    unit: HvacUnit
    zone_id: str
    host: str
    port: int
    bacnet: Any = None  # the BAC0 Lite instance
    objects: dict[str, Any] = field(default_factory=dict)  # point name -> bacpypes3 object
    points: dict[str, BacnetPoint] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self, ctx: SimContext) -> None:
        """Start the BAC0 application (needs the running loop) and create the objects."""
        import BAC0
        from BAC0.core.devices.local.factory import (
            ObjectFactory,
            analog_input,
            analog_value,
            binary_input,
            binary_value,
            make_state_text,
            multistate_value,
        )

        from sbems.devices.bac0_logging import skip_disabled_bac0_logs

        BAC0.log_level("silence")
        skip_disabled_bac0_logs()  # BAC0's silent DEBUG notes walk the stack first
        self.bacnet = BAC0.start(
            ip=bacnet_ip_with_mask(self.host),
            port=self.port,
            deviceId=self.unit.bacnet.device_id,
            localObjName=self.unit.name,
        )
        ObjectFactory.clear_objects()
        state = ctx.plant.zone_state(self.zone_id)
        self.points = served_points(self.unit)
        values = point_values_si(
            state,
            self.points.get("mode", BacnetPoint(object="multiStateValue:0", quantity="mode")).states or None,
        )
        factory_obj = None
        # BAC0's factory builds a new Python class per object (~11 ms each: 5,000 points took a minute).
        # Read-only inputs (the bulk of a large site) are built through the factory once per object type
        # and cloned from that class; everything else (commandable values, MSVs) still uses the factory.
        templates: dict[str, Any] = {}
        clones: list[tuple[str, str, int, float, BacnetPoint]] = []
        for name, point in self.points.items():
            obj_type, instance_text = point.object.split(":")
            instance = int(instance_text)
            value = to_vendor(values.get(name, 0.0), point.vendor_unit)
            units = {"units": BACNET_UNITS[point.vendor_unit]}
            if obj_type in CLONABLE_TYPES and obj_type in templates:
                clones.append((name, obj_type, instance, value, point))
                continue
            if obj_type in ("analogInput",):
                factory_obj = analog_input(name=name, instance=instance, properties=units, presentValue=value)
                templates[obj_type] = factory_obj.objects[name]
            elif obj_type in ("analogValue", "analogOutput"):
                factory_obj = analog_value(
                    name=name,
                    instance=instance,
                    properties=units,
                    presentValue=value,
                    is_commandable=point.writable,
                    relinquishDefault=value,
                )
            elif obj_type == "binaryInput":
                factory_obj = binary_input(name=name, instance=instance, presentValue=_active(value))
                templates[obj_type] = factory_obj.objects[name]
            elif obj_type in ("binaryValue", "binaryOutput"):
                factory_obj = binary_value(  # enable: commandable, relinquishDefault = on (local control)
                    name=name,
                    instance=instance,
                    presentValue=_active(value),
                    is_commandable=point.writable,
                    relinquishDefault=_active(value),
                )
            elif obj_type in ("multiStateValue", "multiStateInput"):
                states = point.states or ["off", "cool", "heat", "auto"]
                factory_obj = multistate_value(
                    name=name,
                    instance=instance,
                    presentValue=int(value),
                    properties={"stateText": make_state_text(states), "numberOfStates": len(states)},
                    is_commandable=point.writable,  # mode: priority array, relinquishDefault = schedule's
                )
        cloned = [_clone_input(templates[t], name, i, value, point) for name, t, i, value, point in clones]
        if factory_obj is not None:
            factory_obj.add_objects_to_application(self.bacnet)
        app = self.bacnet.this_application.app
        for obj in cloned:
            app.add_object(obj)
        self.objects = {name: app.get_object_name(name) for name in self.points}
        for name, point in self.points.items():
            if point.writable and point.object.startswith("multiState"):
                self.objects[name].relinquishDefault = int(values.get(name, 1))
        self._writable = {name: point for name, point in self.points.items() if point.writable}
        # point name -> vendor value last written into its object (the clones' values are known)
        self._served: dict[str, Any] = {
            name: round(float(value), 2) if obj_type == "analogInput" else _active(value)
            for name, obj_type, _, value, _ in clones
        }
        self._plant_values: dict[str, float] | None = None
        self._scheduled_c: tuple[float, float] | None = None
        _install_fault_gate(app, ctx, self.unit.id)

    def _present(self, name: str) -> Any:
        return self.objects[name].presentValue

    def sync(self, ctx: SimContext) -> None:
        """Apply client writes to the plant, then refresh every object from the plant."""
        plant = ctx.plant
        for name, point in self._writable.items():
            obj = self.objects[name]
            if name in ("setpoint_c", "heating_setpoint_c"):
                commanded = any(pv.null is None for pv in obj.priorityArray)
                value = from_vendor(float(obj.presentValue), point.vendor_unit) if commanded else None
                setter = plant.set_setpoint_c if name == "setpoint_c" else plant.set_heating_setpoint_c
                setter(self.zone_id, value)
            elif name == "fan_speed_setpoint_pct":
                plant.set_fan_speed_pct(self.zone_id, float(obj.presentValue))
            elif name == "enable":
                plant.set_enabled(self.zone_id, str(obj.presentValue) == "active")
            elif name == "mode":
                states = point.states or ["off", "cool", "heat", "auto"]
                index = int(obj.presentValue)
                if not any(pv.null is None for pv in obj.priorityArray):  # released: the schedule's mode
                    plant.set_mode(self.zone_id, plant.schedule_of(self.zone_id).mode)
                elif 1 <= index <= len(states) and states[index - 1] in ("off", "cool", "heat", "auto"):
                    plant.set_mode(self.zone_id, states[index - 1])
        self.refresh(ctx)

    def refresh(self, ctx: SimContext) -> None:
        """Write the plant's current values into the read-only objects (and relinquishDefaults).

        Cheap when nothing changed (the 50 ms loop calls it): the plant's point values are compared
        with the last ones first, and only objects whose served value changed are written.
        """
        state = ctx.plant.zone_state(self.zone_id)
        mode_point = self.points.get("mode")
        values = point_values_si(state, mode_point.states if mode_point else None)
        scheduled_c = (state.scheduled_setpoint_c, state.scheduled_heating_setpoint_c)
        if values == self._plant_values and scheduled_c == self._scheduled_c:
            return
        self._plant_values, self._scheduled_c = values, scheduled_c
        for name, point in self.points.items():
            value = to_vendor(values.get(name, 0.0), point.vendor_unit)
            obj_type = point.object.split(":")[0]
            if point.writable:
                obj = self.objects[name]
                if name in ("setpoint_c", "heating_setpoint_c"):
                    scheduled = to_vendor(
                        state.scheduled_setpoint_c
                        if name == "setpoint_c"
                        else state.scheduled_heating_setpoint_c,
                        point.vendor_unit,
                    )
                    if float(obj.relinquishDefault) != round(scheduled, 3):
                        obj.relinquishDefault = round(scheduled, 3)
                        if not any(pv.null is None for pv in obj.priorityArray):
                            obj.recalculating()
                continue
            if obj_type.startswith("analog"):
                new: Any = round(float(value), 2)
            elif obj_type.startswith("binary"):
                new = _active(value)
            elif obj_type.startswith("multiState"):
                new = int(value)
            else:
                continue
            if self._served.get(name) == new:
                continue
            self._served[name] = new
            obj = self.objects[name]
            if obj_type.startswith("analog"):
                if float(obj.presentValue) != new:
                    obj.presentValue = new
            elif obj_type.startswith("binary"):
                if str(obj.presentValue) != new:
                    obj.presentValue = new
            elif int(obj.presentValue) != new:
                obj.presentValue = new

    async def stop(self) -> None:
        if self.bacnet is not None:
            await self.bacnet._disconnect()
            self.bacnet = None


CLONABLE_TYPES = ("analogInput", "binaryInput")


def _clone_input(template: Any, name: str, instance: int, value: float, point: BacnetPoint) -> Any:
    """A new read-only input object like the (factory-built) template, without running its __init__.

    bacpypes3's object __init__ inspects every property of the class (~3 ms an object); a copy of the
    template's attributes with its own identifier, name, units, value and (empty) monitors is the same
    object for a client. Call before the template is added to an application.
    """
    from collections import defaultdict

    from bacpypes3.basetypes import EngineeringUnits

    cls = type(template)
    elements = cls._elements
    obj = object.__new__(cls)
    # attributes are set in the instance dict, as bacpypes3 stores them, past its (slow) __setattr__
    state = dict(template.__dict__)
    state["_app"] = None
    state["_property_monitors"] = defaultdict(list)
    state["_Object__objectIdentifier"] = elements["objectIdentifier"].cast((cls.objectType, instance))
    state["_Object__objectName"] = elements["objectName"](name)
    if point.object.startswith("analog"):
        state["units"] = EngineeringUnits(BACNET_UNITS[point.vendor_unit])
        state["presentValue"] = elements["presentValue"](round(float(value), 2))
    else:
        state["presentValue"] = elements["presentValue"](_active(value))
    obj.__dict__.update(state)
    return obj


def _active(value: float) -> str:
    return "active" if value else "inactive"


def _install_fault_gate(app: Any, ctx: SimContext, device_id: str) -> None:
    """Wrap the application's request handler: offline drops requests, slow delays answers."""
    original = app.indication

    async def indication(apdu: Any) -> None:
        if ctx.faults.is_offline(device_id):
            return None
        delay_s = ctx.faults.delay_s(device_id)
        if delay_s > 0:
            import asyncio

            await asyncio.sleep(delay_s)
            if ctx.faults.is_offline(device_id):
                return None
        return await original(apdu)

    app.indication = indication
