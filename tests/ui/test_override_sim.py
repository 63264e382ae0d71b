"""An operator's override from the panel reaches the virtual building's equipment and is released back."""

from __future__ import annotations

import pytest

from sbems.services.auth import create_user
from sbems.sim.harness import running_sim
from sbems.storage.entities import upsert_site
from tests.ui.support import PASSWORD, log_in


@pytest.mark.slow
@pytest.mark.parametrize("zone", ["z2", "z3"])  # Modbus TCP unit, thermostat REST
def test_operator_override_is_confirmed_then_released(zone, db_url, conn, example_site, monkeypatch):
    with running_sim(example_site, speed=1, api_key="k-panel") as sim:
        upsert_site(conn, site=sim.site)
        conn.commit()
        monkeypatch.setenv("SBEMS_DATABASE_URL", db_url)
        monkeypatch.setenv("SBEMS_THERMOSTAT_API_KEY", "k-panel")
        create_user(db_url, email="op@example.com", password=PASSWORD, role="operator")

        at = log_in("op@example.com")
        at.switch_page("views/zones.py").run()
        at.selectbox(key="override_zone").select(zone)
        at.number_input(key="override_value").set_value(22.5)
        at.text_input(key="override_reason").input("meeting with visitors")
        at.button(key="override_submit").click()
        at.run()
        assert not at.exception, at.exception
        assert any(f"Zone {zone}: confirmed" in s.value for s in at.success), [e.value for e in at.error]
        assert sim.state()["zones"][zone]["setpoint_c"] == pytest.approx(22.5, abs=0.05)
        held = at.dataframe[1].value  # zones, held setpoints, recent commands
        assert list(held["Zone"]) == [zone] and list(held["Source"]) == ["manual"]

        at.selectbox(key="release_zone").select(zone)
        at.button(key="release_submit").click()
        at.run()
        assert not at.exception, at.exception
        assert any("returned to local control" in s.value for s in at.success), [e.value for e in at.error]
        state = sim.state()["zones"][zone]
        assert state["setpoint_c"] == pytest.approx(state["scheduled_setpoint_c"], abs=0.05)
        statuses = [s for (s,) in conn.execute("SELECT status FROM control_commands ORDER BY created_at")]
        assert statuses == ["released"]
        actions = [
            (a, r)
            for a, r in conn.execute(
                "SELECT action, result FROM audit_log WHERE action IN ('control', 'release') ORDER BY id"
            )
        ]
        assert actions == [("control", "success"), ("release", "success")]
