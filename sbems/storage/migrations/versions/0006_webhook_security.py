"""Webhook security: a replay cache shared by every receiver, and the time of each thermostat's last event.

``webhook_replays`` holds the sha256 of every accepted webhook body until ``expires_at`` (a few minutes
past the signature window): a body seen again before then is a replay and stores nothing.
``thermostats.last_event_at`` is the newest event that moved the thermostat's state; an older event is kept
as history only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE webhook_replays (
    body_sha256 CHAR(64) PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_webhook_replays_expires ON webhook_replays(expires_at);
ALTER TABLE thermostats ADD COLUMN last_event_at TIMESTAMPTZ;
"""
    )


def downgrade() -> None:
    op.execute("ALTER TABLE thermostats DROP COLUMN last_event_at; DROP TABLE webhook_replays;")
