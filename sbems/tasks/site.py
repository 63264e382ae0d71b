"""The site description as stored: the one task every flow starts with."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from sbems.domain.site import Site
from sbems.storage import db
from sbems.storage.entities import read_site


@task(retries=2, retry_delay_seconds=5, tags=["database"], cache_policy=NO_CACHE)
def read_site_from_db(database_url: str) -> Site:
    with db.connect(database_url) as conn:
        return read_site(conn)
