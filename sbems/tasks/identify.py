"""Task of the ``identify-experiment`` flow: one look for an identification experiment to start in a
building (the use case is ``sbems.services.identification``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.services.identification import run_identification


@task(tags=["dispatch"], cache_policy=NO_CACHE)
def start_identification_experiment(
    database_url: str, building_id: str, now_utc: datetime, bacnet_port: int | None = None
) -> dict[str, Any]:
    """Decide and, where one is due, dispatch an experiment; what was decided and done, as plain data."""
    return asyncio.run(
        run_identification(building_id, database_url, now_utc=now_utc, bacnet_port=bacnet_port)
    )
