"""Non-routine events of the savings (M&V) method: occupancy changes, added equipment... recorded per
building, with the days to exclude or the kWh per day to adjust the baseline by (IPMVP non-routine
adjustments, docs/savings.md).

Audit trail: an event is never updated or deleted; it can only be withdrawn (``withdrawn_at``,
``withdrawn_by``, ``withdrawn_reason``), and recording or withdrawing one also writes an ``audit_log`` row
in the same transaction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE savings_nonroutine_events (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('occupancy_change', 'added_equipment', 'removed_equipment',
                                       'schedule_change', 'other')),
    action TEXT NOT NULL CHECK (action IN ('exclude', 'adjust')),
    start_date DATE NOT NULL,
    end_date DATE CHECK (end_date IS NULL OR end_date > start_date),
    kwh_per_day DOUBLE PRECISION CHECK ((action = 'adjust') = (kwh_per_day IS NOT NULL)),
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by TEXT NOT NULL,
    withdrawn_at TIMESTAMPTZ,
    withdrawn_by TEXT,
    withdrawn_reason TEXT,
    CHECK ((withdrawn_at IS NULL) = (withdrawn_by IS NULL))
);
CREATE INDEX idx_savings_nonroutine_events_building ON savings_nonroutine_events (building_id, start_date);
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS savings_nonroutine_events")
