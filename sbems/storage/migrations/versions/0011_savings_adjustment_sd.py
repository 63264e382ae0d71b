"""The standard uncertainty of a non-routine adjustment (kWh per day, 1 s.e.), combined with the model's
uncertainty in the savings interval (docs/savings.md). 0 = stated as exact (the events recorded before).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE savings_nonroutine_events ADD COLUMN kwh_per_day_sd DOUBLE PRECISION NOT NULL DEFAULT 0 "
        "CHECK (kwh_per_day_sd >= 0 AND (action = 'adjust' OR kwh_per_day_sd = 0))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE savings_nonroutine_events DROP COLUMN IF EXISTS kwh_per_day_sd")
