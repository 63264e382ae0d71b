"""Alert notifications: which alerts were routed (and escalated), and every delivery with its attempts.

``alert_notifications`` has one row per alert the delivery loop has routed; alerts stored before this
revision are marked routed (and escalated) here, so an upgrade never notifies old alerts.
``notification_deliveries`` has one row per (alert, purpose, target): the target is kept as a hash of its
apprise URL and a label with the secrets masked, never the URL itself.

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE alert_notifications (
    alert_id UUID PRIMARY KEY REFERENCES alerts(id) ON DELETE CASCADE,
    routed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    escalated_at TIMESTAMPTZ
);
INSERT INTO alert_notifications (alert_id, routed_at, escalated_at) SELECT id, now(), now() FROM alerts;

CREATE TABLE notification_deliveries (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    alert_id UUID NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    purpose VARCHAR(20) NOT NULL CHECK (purpose IN ('alert', 'escalation')),
    target_key VARCHAR(64) NOT NULL,
    target_label TEXT NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'held', 'retrying', 'sent', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ,
    UNIQUE (alert_id, purpose, target_key)
);
CREATE INDEX idx_notification_deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'held', 'retrying');
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS notification_deliveries; DROP TABLE IF EXISTS alert_notifications")
