"""``sbems savings events add | list | withdraw`` against a real PostgreSQL: recorded, listed, withdrawn,
each step audited; invalid events refused with the reason and a non-zero exit."""

from __future__ import annotations

import json

from sbems.cli import main
from sbems.storage.commands import read_audit
from sbems.storage.entities import upsert_site


def test_savings_events_from_the_command_line(db_url, conn, example_site, monkeypatch, capsys):
    upsert_site(conn, site=example_site)
    conn.commit()
    monkeypatch.setenv("SBEMS_DATABASE_URL", db_url)
    add = ["savings", "events", "add", "--building", "hq", "--start", "2026-03-01"]
    assert (
        main(
            [
                *add,
                "--kind",
                "adjust",
                "--kwh-per-day",
                "60",
                "--kwh-per-day-sd",
                "6",
                "--cause",
                "added_equipment",
                "--reason",
                "server room",
                "--actor",
                "fm@example.com",
            ]
        )
        == 0
    )
    assert main([*add, "--end", "2026-03-08", "--kind", "exclude", "--reason", "floor closed"]) == 0
    capsys.readouterr()
    assert main([*add, "--kind", "adjust", "--reason", "no amount"]) == 2
    assert "--kwh-per-day" in capsys.readouterr().err
    assert main([*add, "--end", "2026-02-01", "--kind", "exclude", "--reason", "backwards"]) == 2
    assert "on or before its start" in capsys.readouterr().err

    assert main(["savings", "events", "list", "--building", "hq", "--json"]) == 0
    adjust, exclude = json.loads(capsys.readouterr().out)
    assert adjust["action"] == "adjust" and adjust["kwh_per_day"] == 60.0 and adjust["kwh_per_day_sd"] == 6.0
    assert adjust["kind"] == "added_equipment" and adjust["created_by"] == "fm@example.com"
    assert exclude["action"] == "exclude" and exclude["end_date"] == "2026-03-08"
    assert exclude["created_by"].startswith("cli:")

    withdraw = ["savings", "events", "withdraw", "--building", "hq", "--id", exclude["id"]]
    assert main([*withdraw, "--reason", "entered twice"]) == 0
    assert main([*withdraw, "--reason", "again"]) == 1
    capsys.readouterr()
    assert main(["savings", "events", "list", "--building", "hq"]) == 0
    listed = capsys.readouterr().out
    assert "server room" in listed and "floor closed" not in listed
    assert main(["savings", "events", "list", "--building", "hq", "--all"]) == 0
    assert "WITHDRAWN" in capsys.readouterr().out
    audit = read_audit(conn, resource_id=f"hq/savings-events/{exclude['id']}")
    assert [a["action"] for a in audit] == ["withdraw_savings_event", "record_savings_event"]
