"""Energy rollups: ``energy_readings_hourly`` and ``energy_readings_daily`` (seed §4.2), kept by the
maintenance flow (``sbems.storage.rollups``).

Plain tables in both time-series modes (no TimescaleDB continuous aggregate): the same SQL keeps them
with or without the extension. One row per meter point and bucket, so a rollup is an idempotent upsert
on the primary key (bucket, point_id); building, zone and HVAC unit are carried for filtering and
grouping. Seed names mapped: avg_power -> avg_power_kw, peak_power -> peak_power_kw, total_energy ->
total_energy_kwh (integrated from power_kw, see rollups.py), avg_efficiency -> avg_efficiency_ratio.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ROLLUP_TABLE = """
CREATE TABLE {name} (
    bucket TIMESTAMPTZ NOT NULL,                  -- start of the UTC hour / UTC day
    point_id UUID NOT NULL REFERENCES sensors(id),
    building_id UUID NOT NULL REFERENCES buildings(id),
    zone_id UUID REFERENCES zones(id),
    hvac_unit_id UUID REFERENCES hvac_units(id),
    avg_power_kw DOUBLE PRECISION,                -- mean of the samples in the bucket
    peak_power_kw DOUBLE PRECISION,               -- largest sample in the bucket
    total_energy_kwh DOUBLE PRECISION NOT NULL,   -- power integrated over the covered time
    covered_s DOUBLE PRECISION NOT NULL,          -- seconds of the bucket the integral covers
    avg_efficiency_ratio DOUBLE PRECISION,
    reading_count INTEGER NOT NULL,
    computed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, point_id)
);
CREATE INDEX idx_{name}_building ON {name} (building_id, bucket DESC);
CREATE INDEX idx_{name}_zone ON {name} (zone_id, bucket DESC);
"""

TABLES = ("energy_readings_hourly", "energy_readings_daily")


def upgrade() -> None:
    for name in TABLES:
        op.execute(ROLLUP_TABLE.format(name=name))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS energy_readings_hourly, energy_readings_daily")
