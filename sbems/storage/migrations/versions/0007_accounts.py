"""Accounts: login throttling and lockout, TOTP MFA with hashed recovery codes, and panel sessions.

``users`` gains the failed-login counter and lock, the TOTP secret (and one pending during enrolment) and
the last TOTP time step used (a code works once). ``user_recovery_codes`` keeps SHA-256 hashes of the
one-time recovery codes; ``user_sessions`` the panel's sessions by the SHA-256 of their token (absolute
and idle expiry, revocation); ``login_failures`` the failed attempts per client for client throttling.

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
ALTER TABLE users
    ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN locked_until TIMESTAMPTZ,
    ADD COLUMN totp_secret TEXT,
    ADD COLUMN totp_pending_secret TEXT,
    ADD COLUMN totp_last_step BIGINT;

CREATE TABLE user_recovery_codes (
    id BIGSERIAL PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_sha256 CHAR(64) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at TIMESTAMPTZ,
    UNIQUE (user_id, code_sha256)
);

CREATE TABLE user_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    token_sha256 CHAR(64) NOT NULL UNIQUE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX idx_user_sessions_user ON user_sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    client TEXT NOT NULL,
    email TEXT,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_login_failures_client ON login_failures (client, at);
"""
    )


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS login_failures; DROP TABLE IF EXISTS user_sessions; "
        "DROP TABLE IF EXISTS user_recovery_codes; ALTER TABLE users DROP COLUMN IF EXISTS failed_logins, "
        "DROP COLUMN IF EXISTS locked_until, DROP COLUMN IF EXISTS totp_secret, "
        "DROP COLUMN IF EXISTS totp_pending_secret, DROP COLUMN IF EXISTS totp_last_step"
    )
