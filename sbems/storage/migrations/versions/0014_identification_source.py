"""Commands may carry the source ``identification``: the opt-in identification experiments' temporary
cooling or heating setpoint writes in unoccupied hours (issue 14; ``sbems.services.identification``).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE control_commands DROP CONSTRAINT IF EXISTS control_commands_source_check;
ALTER TABLE control_commands ADD CONSTRAINT control_commands_source_check
    CHECK (source IN ('manual', 'automated', 'schedule', 'ml', 'optimizer', 'watchdog', 'demand-limiter',
                      'identification'));
"""
    )


def downgrade() -> None:
    op.execute(
        """
DELETE FROM control_commands WHERE source = 'identification';
ALTER TABLE control_commands DROP CONSTRAINT IF EXISTS control_commands_source_check;
ALTER TABLE control_commands ADD CONSTRAINT control_commands_source_check
    CHECK (source IN ('manual', 'automated', 'schedule', 'ml', 'optimizer', 'watchdog', 'demand-limiter'));
"""
    )
