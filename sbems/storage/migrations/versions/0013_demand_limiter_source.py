"""Commands may carry the source ``demand-limiter``: the within-interval demand limiter's temporary cooling
(and, opted in, heating) setpoint writes (issue 14; ``sbems.services.demand_limiter``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE control_commands DROP CONSTRAINT IF EXISTS control_commands_source_check;
ALTER TABLE control_commands ADD CONSTRAINT control_commands_source_check
    CHECK (source IN ('manual', 'automated', 'schedule', 'ml', 'optimizer', 'watchdog', 'demand-limiter'));
"""
    )


def downgrade() -> None:
    op.execute(
        """
DELETE FROM control_commands WHERE source = 'demand-limiter';
ALTER TABLE control_commands DROP CONSTRAINT IF EXISTS control_commands_source_check;
ALTER TABLE control_commands ADD CONSTRAINT control_commands_source_check
    CHECK (source IN ('manual', 'automated', 'schedule', 'ml', 'optimizer', 'watchdog'));
"""
    )
