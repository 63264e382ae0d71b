import json
import os
import subprocess
import sys

import psycopg

from sbems.domain.site import dump_site_yaml
from sbems.storage import db, entities
from tests.conftest import EXAMPLE_SITE

SEED_TABLES = {
    "buildings",
    "zones",
    "hvac_units",
    "thermostats",
    "sensors",
    "energy_readings",
    "sensor_readings",
    "hvac_telemetry",
    "schedules",
    "alerts",
    "alert_rules",
    "ml_predictions",
    "control_commands",
    "users",
    "user_building_access",
    "energy_savings",
    "audit_log",
    "quarantine",
    "live_state",
}


def test_upgrade_on_empty_database_is_idempotent(empty_db_url):
    db.upgrade(empty_db_url)
    assert db.current_revision(empty_db_url) == "0014"
    db.upgrade(empty_db_url)
    assert db.current_revision(empty_db_url) == "0014"
    with psycopg.connect(empty_db_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert SEED_TABLES <= tables
        partitioned = {
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            )
        }
        mode = conn.execute("SELECT value FROM sbems_meta WHERE key = 'timeseries_mode'").fetchone()[0]
    if mode == "partitioned":
        assert partitioned == {"energy_readings", "sensor_readings", "hvac_telemetry"}


def test_site_import_is_idempotent_and_exports_back(conn, example_site):
    first = entities.upsert_site(conn, site=example_site)
    conn.commit()
    counts_before = {
        t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("buildings", "zones", "hvac_units", "thermostats", "sensors", "schedules")
    }
    second = entities.upsert_site(conn, site=example_site)
    counts_after = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in counts_before}
    assert first == second
    assert counts_before == counts_after
    assert counts_after["zones"] == 6
    assert entities.read_site(conn) == example_site


def test_edit_in_database_shows_in_export(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    conn.execute("UPDATE zones SET target_temp_max_c = 24.5 WHERE key = 'z3'")
    exported = entities.read_site(conn)
    assert exported.building("hq").zone("z3").comfort.max_c == 24.5


def test_thermostat_api_key_is_never_stored(conn, example_site):
    entities.upsert_site(conn, site=example_site)
    text = str(conn.execute("SELECT api_config, metadata FROM thermostats").fetchall())
    assert "sbems-demo-key" not in text
    assert "SBEMS_THERMOSTAT_API_KEY" in text


def _sbems(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SBEMS_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "sbems.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_cli_upgrade_and_import_twice_on_empty_database(empty_db_url, tmp_path):
    for _ in range(2):
        upgraded = _sbems("db", "upgrade", url=empty_db_url)
        assert upgraded.returncode == 0, upgraded.stderr
        imported = _sbems("site", "import", str(EXAMPLE_SITE), url=empty_db_url)
        assert imported.returncode == 0, imported.stderr
        assert "6 zones" in imported.stdout
    out = tmp_path / "export.yaml"
    exported = _sbems("site", "export", "-o", str(out), url=empty_db_url)
    assert exported.returncode == 0, exported.stderr
    from sbems.domain.site import read_site_file

    assert dump_site_yaml(read_site_file(out)) == dump_site_yaml(read_site_file(EXAMPLE_SITE))


def test_one_buildings_site_and_sensor_index_leave_the_others_out(conn, example_site):
    """A poll cycle reads its own building of a large site, not every building's points (every 30 s)."""
    from sbems.domain.site import parse_site

    data = example_site.model_dump(mode="json", exclude_none=True)
    annex = json.loads(json.dumps(data["buildings"][0]))
    annex["id"], annex["name"] = "annex", "Annex"
    for tstat in annex.get("thermostats", []):  # a thermostat's vendor id is unique site-wide
        tstat["rest"]["device_id"] = f"{tstat['rest']['device_id']}-annex"
    data["buildings"].append(annex)
    site = parse_site(data, "<two buildings>")
    entities.upsert_site(conn, site=site)

    whole = entities.read_site(conn)
    assert [b.id for b in whole.buildings] == ["annex", "hq"]
    only_hq = entities.read_site(conn, ["hq"])
    assert [b.id for b in only_hq.buildings] == ["hq"]
    assert only_hq.building("hq") == whole.building("hq")
    assert only_hq.schedules == whole.schedules and only_hq.tariffs == whole.tariffs

    index = entities.read_sensor_index(conn)
    hq_index = entities.read_sensor_index(conn, "hq")
    assert {b for b, _ in index} == {"annex", "hq"}
    assert hq_index == {key: value for key, value in index.items() if key[0] == "hq"}
    assert hq_index
