"""Weather: provider forecasts (one row per building, source, issue and valid hour) and observations
(measured outdoor air, or the provider's current conditions where the building has no sensor).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE weather_forecasts (
            building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
            source VARCHAR(50) NOT NULL,
            issued_at TIMESTAMPTZ NOT NULL,
            valid_at TIMESTAMPTZ NOT NULL,
            temperature_c DOUBLE PRECISION NOT NULL,
            relative_humidity_pct DOUBLE PRECISION NOT NULL,
            ghi_w_m2 DOUBLE PRECISION NOT NULL,
            dni_w_m2 DOUBLE PRECISION NOT NULL,
            dhi_w_m2 DOUBLE PRECISION NOT NULL,
            cloud_cover_pct DOUBLE PRECISION NOT NULL,
            fetched_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (building_id, source, issued_at, valid_at)
        );
        CREATE INDEX idx_weather_forecasts_issue ON weather_forecasts (building_id, issued_at DESC);
        CREATE TABLE weather_observations (
            building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
            source VARCHAR(80) NOT NULL,
            observed_at TIMESTAMPTZ NOT NULL,
            temperature_c DOUBLE PRECISION,
            relative_humidity_pct DOUBLE PRECISION,
            ghi_w_m2 DOUBLE PRECISION,
            PRIMARY KEY (building_id, source, observed_at)
        );
        CREATE INDEX idx_weather_observations_time ON weather_observations (building_id, observed_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS weather_observations, weather_forecasts")
