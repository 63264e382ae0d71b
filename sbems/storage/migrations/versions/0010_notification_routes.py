"""Notification routes edited in the panel: per building and severity, the tags and target keys (hashes of
apprise URLs, never the URLs) whose targets get the building's alerts of that severity. A row takes
precedence over the site file's ``notifications`` routes for its severity (docs/notifications.md); a site
import leaves the table alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE notification_routes (
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    severity TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    tags TEXT[] NOT NULL DEFAULT '{}',
    target_keys TEXT[] NOT NULL DEFAULT '{}',
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (building_id, severity)
);
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notification_routes")
