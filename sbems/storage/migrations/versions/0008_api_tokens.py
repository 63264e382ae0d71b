"""API refresh tokens: one row per issued refresh token, stored by the SHA-256 of its text.

Tokens of one login form a family (``family_id``): a refresh marks the presented token ``rotated_at`` and
adds its successor to the family; logout (or presenting an already rotated token again, a sign of theft)
revokes the whole family, which also ends the family's access tokens at their next request.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
CREATE TABLE api_refresh_tokens (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    token_sha256 CHAR(64) NOT NULL UNIQUE,
    family_id UUID NOT NULL,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    rotated_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX idx_api_refresh_tokens_family ON api_refresh_tokens (family_id) WHERE revoked_at IS NULL;
CREATE INDEX idx_api_refresh_tokens_user ON api_refresh_tokens (user_id) WHERE revoked_at IS NULL;
"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api_refresh_tokens")
