"""compose.yaml: valid against the Compose Specification's JSON schema, and a sound SBEMS deployment."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).parent / "compose_spec.json").read_text(encoding="utf-8"))
SBEMS_SERVICES = {"migrate", "flows", "poller", "listener", "webhooks", "panel"}
SECRET_WORDS = ("PASSWORD", "SECRET", "AUTH_STRING", "API_KEY", "TOKEN")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))


def _errors(document: dict) -> list[str]:
    validator = jsonschema.Draft201909Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_is_valid_against_the_compose_schema(compose):
    assert _errors(compose) == []


def test_the_schema_catches_mistakes(compose):
    """The validation above can fail: typical mistakes are reported."""
    broken = copy.deepcopy(compose)
    broken["services"]["listener"]["restart_policy"] = "always"  # not a service key
    broken["services"]["panel"]["ports"] = "8501:8501"  # must be a list
    broken["services"]["postgres"]["healthcheck"]["retries"] = "five"
    broken["volumez"] = {}
    errors = _errors(broken)
    assert len(errors) >= 4, errors
    assert any("restart_policy" in e for e in errors)


def test_services_of_a_site_are_all_there_with_healthchecks(compose):
    services = compose["services"]
    assert {"postgres", "mosquitto", "prefect", *SBEMS_SERVICES} <= set(services)
    # the flows runner's probe is checked in tests/deployments/test_serve.py; the migration exits
    for name in set(services) - {"migrate", "flows"}:
        assert "test" in services[name].get("healthcheck", {}), f"{name} has no healthcheck"
    for name in SBEMS_SERVICES - {"migrate"}:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["restart"] == "unless-stopped"
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert "# api:" in (REPO / "compose.yaml").read_text(encoding="utf-8")  # the API's placeholder


def test_sbems_commands_parse(compose, sbems_argv_parses):
    for name in SBEMS_SERVICES:
        sbems_argv_parses(compose["services"][name]["command"])
    with pytest.raises(AssertionError):
        sbems_argv_parses(["flows", "serve", "--no-such-option"])


def test_panel_runs_sbems_ui_on_every_interface_of_its_container(compose):
    panel = compose["services"]["panel"]
    assert "entrypoint" not in panel  # the image's `sbems` entrypoint
    command = panel["command"]
    assert command[0] == "ui" and command[command.index("--host") + 1] == "0.0.0.0"


def test_no_secret_is_written_in_the_file(compose):
    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, f"{path}/{i}")
        else:
            yield path, str(node)

    secrets = [(p, v) for p, v in walk(compose) if any(w in p.rsplit("/", 1)[-1] for w in SECRET_WORDS)]
    assert len(secrets) >= 5
    for path, value in secrets:
        assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), (
            f"{path} must be a required ${{VAR:?...}}: {value!r}"
        )
    for path, value in walk(compose):  # passwords inside URLs come from variables too
        if "://" in value and "@" in value:
            assert re.search(r"://\w+:\$\{\w+:\?[^}]+\}@", value), f"{path}: {value!r}"


def test_mosquitto_uses_the_repository_config(compose):
    volumes = compose["services"]["mosquitto"]["volumes"]
    sources = [v.split(":")[0] if isinstance(v, str) else v["source"] for v in volumes]
    for source in sources:
        if source.startswith("./"):
            assert (REPO / source).exists(), source
    assert "./sbems/deployments/mosquitto/mosquitto.conf" in sources
    assert "./sbems/deployments/mosquitto/acl" in sources
    assert (REPO / "deploy/compose/postgres-init.sql").exists()
