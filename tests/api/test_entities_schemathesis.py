"""Schemathesis (``not_a_server_error``) over the 17 site-entity operations only (tag ``site entities``), with
a facility manager's and an admin's token, against the API served on loopback: no 5xx."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import run_schemathesis


@pytest.mark.parametrize("role", ["facility_manager", "admin"])
def test_schemathesis_finds_no_server_error(api, tokens, tmp_path, role):
    summary = run_schemathesis(
        f"{api.base}/openapi.json",
        tokens[role]["access_token"],
        tmp_path,
        options=["--include-tag", "site entities", "--workers", "1"],
        max_examples=25,
        timeout_s=600,
    )
    assert re.search(r"Tested: 17\b", summary), summary  # every site-entity operation was exercised
