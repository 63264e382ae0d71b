"""One row per weekly schedule (``schedule_states``), apart from the per-zone rows of ``schedules``: whether
it is enabled (the seed's ``schedules.enabled`` is kept equal on its rows), its last stored spec, the
buildings whose zones followed it, and whether it was deleted through the API (retired: the row and its
history stay; a site import leaves it retired unless told otherwise). A schedule no zone follows any more
keeps its row, so it can be followed again or deleted.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE schedule_states (
    key TEXT PRIMARY KEY,
    spec JSONB NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT true,
    building_keys TEXT[] NOT NULL DEFAULT '{}',
    retired_at TIMESTAMPTZ,
    retired_by TEXT,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    changed_by TEXT
);
INSERT INTO schedule_states (key, spec, enabled, building_keys)
SELECT s.metadata->'spec'->>'id', (array_agg(s.metadata->'spec' ORDER BY s.key))[1], bool_and(s.enabled),
       array_agg(DISTINCT b.key)
FROM schedules s JOIN zones z ON z.id = s.zone_id JOIN buildings b ON b.id = z.building_id
WHERE s.metadata->'spec'->>'id' IS NOT NULL GROUP BY s.metadata->'spec'->>'id';
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS schedule_states")
