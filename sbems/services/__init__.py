"""Use cases shared by the panel, flows and any API (e.g. request_setpoint)."""
