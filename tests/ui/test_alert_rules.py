"""Alert rules in the panel: a facility manager adds, changes and deletes a building's threshold rule
(with a duration the listener reads); viewers and operators only read; bad drafts are refused."""

from __future__ import annotations

from sbems.services.alert_rules import RuleDraft, rule_problem, save_rule
from sbems.services.auth import AuthUser
from sbems.storage.alerts import read_alert_rules
from tests.ui.support import log_in, texts


def test_a_facility_manager_adds_changes_and_deletes_a_rule(make_user, conn):
    email = make_user("facility_manager")
    at = log_in(email)
    at.switch_page("views/alert_rules.py").run()
    assert not at.exception, at.exception
    assert "No alert rules yet" in texts(at)
    at.text_input(key="rule_name_new").input("Z1 too warm")
    at.number_input(key="rule_threshold_new").set_value(27.5)
    at.number_input(key="rule_duration_new").set_value(10.0)
    at.selectbox(key="rule_zone_new").select("z1")
    at.button(key="rule_save").click()
    at.run()
    assert not at.exception, at.exception
    assert "Rule 'Z1 too warm' saved" in texts(at)
    (rule,) = read_alert_rules(conn)  # what the listener loads
    assert (rule.metric_name, rule.comparison, rule.threshold_value) == ("temperature", ">", 27.5)
    assert (rule.duration_s, rule.cooldown_s, rule.severity) == (600, 900, "warning")
    table = at.dataframe[0].value
    assert table.iloc[0]["Condition"] == "temperature > 27.5" and table.iloc[0]["For at least"] == "10 min"

    rid = str(rule.id)
    at.selectbox(key="rules_choice").select(rid).run()
    at.selectbox(key=f"rule_severity_{rid}").select("critical")
    at.toggle(key=f"rule_enabled_{rid}").set_value(False)
    at.button(key="rule_save").click()
    at.run()
    assert read_alert_rules(conn) == []  # disabled: the listener no longer loads it
    (rule,) = read_alert_rules(conn, enabled_only=False)
    assert rule.severity == "critical" and rule.duration_s == 600

    at.selectbox(key="rules_choice").select(rid).run()
    at.button(key="rule_delete").click()
    at.run()
    assert not at.exception, at.exception
    assert read_alert_rules(conn, enabled_only=False) == []
    actions = [
        a for (a,) in conn.execute("SELECT action FROM audit_log WHERE resource = 'alert_rule' ORDER BY id")
    ]
    assert actions == ["alert_rule", "alert_rule", "alert_rule_delete"]


def test_operators_read_rules_and_the_service_refuses_their_changes(make_user, conn, site_db):
    email = make_user("operator")
    at = log_in(email)
    at.switch_page("views/alert_rules.py").run()
    assert not at.exception, at.exception
    assert "rule_save" not in {b.key for b in at.button}
    user = at.session_state["sbems_user"]
    draft = RuleDraft("CO2 high", "co2", ">", 1200.0, "warning", 300)
    refused = save_rule(site_db, "hq", draft, user=AuthUser(user.id, email, "operator"))
    assert not refused.ok and read_alert_rules(conn) == []
    assert rule_problem(RuleDraft("x", "co2", "=", 1.0, "warning")) is not None
    assert rule_problem(RuleDraft("x", "co2", ">", 1.0, "urgent")) is not None
    assert rule_problem(RuleDraft("x", "co2", ">", float("nan"), "info")) is not None
    assert rule_problem(RuleDraft("x", "co2", ">", 1.0, "info", duration_s=-5)) is not None
    assert rule_problem(draft) is None
