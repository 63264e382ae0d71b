import subprocess
import sys

import pytest
import yaml

from sbems.domain.site import SiteFileError, dump_site_yaml, entity_uuid, parse_site_yaml, read_site_file
from tests.conftest import EXAMPLE_SITE


def _example() -> dict:
    return yaml.safe_load(EXAMPLE_SITE.read_text())


def test_example_site_describes_the_demo_building(example_site):
    building = example_site.building("hq")
    assert len(building.zones) >= 6
    protocols = {u.protocol for u in building.hvac_units}
    assert protocols == {"bacnet", "modbus"}
    assert all(u.manufacturer == "Trane" for u in building.hvac_units)
    assert building.thermostats and all(t.manufacturer == "Siemens" for t in building.thermostats)
    assert {s.sensor_type for s in building.sensors} >= {
        "temperature",
        "humidity",
        "occupancy",
        "co2",
        "power",
    }
    for unit in building.hvac_units:
        address = unit.bacnet.address if unit.bacnet else unit.modbus.host
        assert address.startswith("127.0.0.1")
    # every zone has exactly one controller
    assert all(building.controller_of(z.id) is not None for z in building.zones)


def test_dump_and_parse_round_trip(example_site):
    assert parse_site_yaml(dump_site_yaml(example_site)) == example_site


def test_entity_uuid_is_stable():
    assert entity_uuid("zone", "hq", "z1") == entity_uuid("zone", "hq", "z1")
    assert entity_uuid("zone", "hq", "z1") != entity_uuid("zone", "hq", "z2")


def test_error_names_the_path_in_the_file():
    data = _example()
    data["buildings"][0]["zones"][2]["comfort"] = {"min_c": 24, "max_c": 22}
    with pytest.raises(SiteFileError) as info:
        parse_site_yaml(yaml.safe_dump(data), "site.yaml")
    assert "site.yaml: buildings[0].zones[2].comfort.max_c: must be > min_c" in str(info.value)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["buildings"][0]["zones"][0].update(schedule="nope"),
            "buildings[0].zones[0].schedule: unknown schedule 'nope'",
        ),
        (
            lambda d: d["buildings"][0]["hvac_units"][0].update(zone="z99"),
            "buildings[0].hvac_units[0].zone: unknown zone",
        ),
        (
            lambda d: d["buildings"][0]["hvac_units"][0].pop("bacnet"),
            "buildings[0].hvac_units[0].bacnet: required",
        ),
        (
            lambda d: d["buildings"][0]["sensors"][0].update(unit="fahrenheit"),
            "buildings[0].sensors[0].unit:",
        ),
        (
            lambda d: d["buildings"][0].update(timezone="Nowhere/City"),
            "buildings[0].timezone: unknown time zone",
        ),
        (
            lambda d: d["buildings"][0]["zones"][1].update(id="z1"),
            "buildings[0].zones[1].id: duplicate id 'z1'",
        ),
        (lambda d: d["buildings"][0]["zones"][0].update(area_m2="big"), "buildings[0].zones[0].area_m2:"),
    ],
)
def test_reference_and_type_errors_name_their_path(mutate, expected):
    data = _example()
    mutate(data)
    with pytest.raises(SiteFileError) as info:
        parse_site_yaml(yaml.safe_dump(data))
    assert expected in str(info.value)


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(SiteFileError, match="not valid YAML"):
        parse_site_yaml("buildings: [unclosed")
    with pytest.raises(SiteFileError, match="cannot read"):
        read_site_file(tmp_path / "missing.yaml")


def test_cli_rejects_bad_site_file_with_nonzero_exit(tmp_path, db_url):
    data = _example()
    data["buildings"][0]["zones"][2]["comfort"] = {"min_c": 24, "max_c": 22}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = subprocess.run(
        [sys.executable, "-m", "sbems.cli", "site", "import", str(bad)],
        capture_output=True,
        text=True,
        env={"SBEMS_DATABASE_URL": db_url, "PATH": "/usr/bin"},
        check=False,
    )
    assert result.returncode != 0
    assert "buildings[0].zones[2].comfort.max_c: must be > min_c" in result.stderr
