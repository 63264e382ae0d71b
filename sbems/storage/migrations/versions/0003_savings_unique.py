"""One ``energy_savings`` row per (building, period_start, period_end, calculation_method), so the savings
flow can upsert (``sbems.storage.savings``). Duplicates already stored are reduced to the newest row first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM energy_savings e USING energy_savings newer "
        "WHERE e.building_id = newer.building_id AND e.period_start = newer.period_start "
        "AND e.period_end = newer.period_end AND e.calculation_method = newer.calculation_method "
        "AND (e.created_at, e.id) < (newer.created_at, newer.id)"
    )
    op.execute(
        "CREATE UNIQUE INDEX uq_savings_period_method ON energy_savings "
        "(building_id, period_start, period_end, calculation_method)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS uq_savings_period_method")
