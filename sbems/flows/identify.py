"""The ``identify-experiment`` flow (every 15 min): opt-in identification experiments in unoccupied hours
(issue 14; ``sbems.services.identification``). Does nothing unless the building's site file enables
``identification``."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow

from sbems.runtime import flow_database_url
from sbems.tasks import identify as t


@flow(name="identify-experiment", log_prints=True)
def identify_experiment(
    building_id: str = "hq",
    database_url: str | None = None,
    now_utc: datetime | None = None,
    bacnet_port: int | None = None,
) -> dict:
    """Start an identification experiment where one is due (a zone whose model never saw near-full output,
    inside the building's window, unoccupied, within the weekly quota); what was decided and done."""
    url = flow_database_url(database_url)
    result = t.start_identification_experiment(url, building_id, now_utc or datetime.now(UTC), bacnet_port)
    print(f"identify-experiment {building_id}: {result.get('why') or result}")
    return result
