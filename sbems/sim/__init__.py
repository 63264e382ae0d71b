"""The virtual building: a thermal plant on typical-year weather, served over BACnet/IP, Modbus TCP,
thermostat REST and MQTT (see ``docs/sim.md``). Import submodules directly; nothing heavy here."""
