"""``sbems demo``: bring the whole system up on embedded defaults and print a summary.

Today it starts (or finds) PostgreSQL, applies migrations and imports the example site; later steps
(broker, virtual building, listener, flows, panel) are added here as they are built.
"""

from __future__ import annotations

import time
from pathlib import Path

from sbems.config import Settings


def run_demo(settings: Settings, *, site_file: Path, duration_s: float | None = None) -> int:
    from sbems.domain.site import read_site_file
    from sbems.runtime import resolve_database_url
    from sbems.storage import db, entities

    started = time.monotonic()
    url = resolve_database_url(settings)
    db.upgrade(url)
    site = read_site_file(site_file)
    with db.connect(url) as conn:
        counts = entities.upsert_site(conn, site=site)
    print(f"SBEMS demo: database {db.redact_url(url)} at revision {db.current_revision(url)}")
    print(f"site {site.site.name!r} from {site_file}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    print(f"ready in {time.monotonic() - started:.1f} s")
    return 0
