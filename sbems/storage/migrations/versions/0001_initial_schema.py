"""Initial schema: the seed's tables (seed §4) with units in column names, plus audit_log, quarantine,
live_state, tariffs, ml_models and optimization_plans.

Time-series tables are TimescaleDB hypertables when the extension is available, otherwise native
declarative range partitions by day (created ahead by ``sbems.storage.partitions``; a DEFAULT partition
catches anything else so that a write never fails).

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ENTITIES = """
CREATE TABLE sbems_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE tariffs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL UNIQUE,
    currency TEXT NOT NULL DEFAULT 'USD',
    definition JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE buildings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    key TEXT NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL,
    address TEXT,
    total_area_m2 NUMERIC(10,2),
    floors INTEGER,
    timezone VARCHAR(50) NOT NULL DEFAULT 'UTC',
    tariff_id UUID REFERENCES tariffs(id),
    autopilot BOOLEAN NOT NULL DEFAULT false,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE zones (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    name VARCHAR(255) NOT NULL,
    floor INTEGER,
    area_m2 NUMERIC(10,2),
    zone_type VARCHAR(50),
    target_temp_min_c NUMERIC(4,2),
    target_temp_max_c NUMERIC(4,2),
    occupancy_capacity INTEGER,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (building_id, key)
);
CREATE INDEX idx_zones_building ON zones(building_id);

CREATE TABLE hvac_units (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    zone_id UUID REFERENCES zones(id) ON DELETE SET NULL,
    key TEXT NOT NULL,
    name VARCHAR(255) NOT NULL,
    manufacturer VARCHAR(100),
    model VARCHAR(100),
    serial_number VARCHAR(100),
    capacity_kw NUMERIC(10,2),
    protocol VARCHAR(20) NOT NULL CHECK (protocol IN ('bacnet', 'modbus')),
    connection_config JSONB NOT NULL DEFAULT '{}',
    status VARCHAR(50) NOT NULL DEFAULT 'active',
    installed_date DATE,
    last_maintenance DATE,
    last_seen_at TIMESTAMPTZ,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (building_id, key)
);
CREATE INDEX idx_hvac_building ON hvac_units(building_id);
CREATE INDEX idx_hvac_zone ON hvac_units(zone_id);

CREATE TABLE thermostats (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    zone_id UUID REFERENCES zones(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    name VARCHAR(255) NOT NULL,
    manufacturer VARCHAR(100),
    model VARCHAR(100),
    device_id VARCHAR(100) UNIQUE,
    api_config JSONB NOT NULL DEFAULT '{}',
    current_temp_c NUMERIC(4,2),
    target_temp_c NUMERIC(4,2),
    mode VARCHAR(50),
    status VARCHAR(50) NOT NULL DEFAULT 'online',
    last_seen_at TIMESTAMPTZ,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (building_id, key)
);
CREATE INDEX idx_thermostats_zone ON thermostats(zone_id);

-- Every readable point: MQTT sensors and the points of HVAC units and thermostats.
CREATE TABLE sensors (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    zone_id UUID REFERENCES zones(id) ON DELETE CASCADE,
    hvac_unit_id UUID REFERENCES hvac_units(id) ON DELETE CASCADE,
    thermostat_id UUID REFERENCES thermostats(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    sensor_type VARCHAR(50) NOT NULL,
    name VARCHAR(255) NOT NULL,
    device_id VARCHAR(100) NOT NULL UNIQUE,
    protocol VARCHAR(20) NOT NULL,
    connection_config JSONB NOT NULL DEFAULT '{}',
    unit VARCHAR(20) NOT NULL,
    status VARCHAR(50) NOT NULL DEFAULT 'active',
    calibration_offset NUMERIC(6,2) NOT NULL DEFAULT 0,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (building_id, key)
);
CREATE INDEX idx_sensors_zone ON sensors(zone_id);
CREATE INDEX idx_sensors_type ON sensors(sensor_type);
CREATE INDEX idx_sensors_active ON sensors(building_id) WHERE status = 'active';

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email VARCHAR(255) UNIQUE NOT NULL,
    password_hash VARCHAR(255),
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    role VARCHAR(50) NOT NULL CHECK (role IN ('admin', 'facility_manager', 'operator', 'viewer')),
    phone VARCHAR(20),
    avatar_url TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT false,
    active BOOLEAN NOT NULL DEFAULT true,
    last_login TIMESTAMPTZ,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_users_role ON users(role);

CREATE TABLE user_building_access (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    access_level VARCHAR(50) NOT NULL DEFAULT 'readonly'
        CHECK (access_level IN ('full', 'readonly', 'control')),
    granted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    granted_by UUID REFERENCES users(id),
    UNIQUE (user_id, building_id)
);
CREATE INDEX idx_user_access_user ON user_building_access(user_id);
CREATE INDEX idx_user_access_building ON user_building_access(building_id);

CREATE TABLE schedules (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    zone_id UUID NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    name VARCHAR(255) NOT NULL,
    schedule_type VARCHAR(50) NOT NULL DEFAULT 'weekly',
    days_of_week INTEGER[] NOT NULL,
    start_time TIME NOT NULL,
    end_time TIME NOT NULL,
    target_temp_c NUMERIC(4,2),
    mode VARCHAR(50),
    enabled BOOLEAN NOT NULL DEFAULT true,
    priority INTEGER NOT NULL DEFAULT 0,
    effective_from DATE,
    effective_to DATE,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (zone_id, key)
);
CREATE INDEX idx_schedules_zone ON schedules(zone_id);
CREATE INDEX idx_schedules_enabled ON schedules(enabled);

CREATE TABLE alert_rules (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID REFERENCES buildings(id) ON DELETE CASCADE,
    zone_id UUID REFERENCES zones(id) ON DELETE CASCADE,
    name VARCHAR(255) NOT NULL,
    metric_name VARCHAR(100) NOT NULL,
    comparison VARCHAR(2) NOT NULL CHECK (comparison IN ('>', '>=', '<', '<=')),
    threshold_value DOUBLE PRECISION NOT NULL,
    severity VARCHAR(20) NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    cooldown_s INTEGER NOT NULL DEFAULT 900,
    enabled BOOLEAN NOT NULL DEFAULT true,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID REFERENCES buildings(id),
    zone_id UUID REFERENCES zones(id),
    hvac_unit_id UUID REFERENCES hvac_units(id),
    rule_id UUID REFERENCES alert_rules(id) ON DELETE SET NULL,
    alert_type VARCHAR(50) NOT NULL,
    severity VARCHAR(20) NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    title VARCHAR(255) NOT NULL,
    description TEXT,
    metric_name VARCHAR(100),
    threshold_value DOUBLE PRECISION,
    actual_value DOUBLE PRECISION,
    acknowledged BOOLEAN NOT NULL DEFAULT false,
    acknowledged_by UUID REFERENCES users(id),
    acknowledged_at TIMESTAMPTZ,
    resolved BOOLEAN NOT NULL DEFAULT false,
    resolved_at TIMESTAMPTZ,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_alerts_building ON alerts(building_id);
CREATE INDEX idx_alerts_severity ON alerts(severity);
CREATE INDEX idx_alerts_resolved ON alerts(resolved);
CREATE INDEX idx_alerts_created ON alerts(created_at DESC);
CREATE INDEX idx_alerts_open ON alerts(building_id, created_at DESC) WHERE NOT resolved;

CREATE TABLE ml_models (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID REFERENCES buildings(id) ON DELETE CASCADE,
    zone_id UUID REFERENCES zones(id) ON DELETE CASCADE,
    kind VARCHAR(50) NOT NULL,          -- forecast, zone_thermal
    target VARCHAR(50) NOT NULL,        -- load, temperature, occupancy
    version VARCHAR(100) NOT NULL,
    trained_from TIMESTAMPTZ,
    trained_to TIMESTAMPTZ,
    metrics JSONB NOT NULL DEFAULT '{}',
    params JSONB NOT NULL DEFAULT '{}',
    artifact BYTEA,
    active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_ml_models_lookup ON ml_models(building_id, kind, target, created_at DESC);

CREATE TABLE ml_predictions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID REFERENCES buildings(id),
    zone_id UUID REFERENCES zones(id),
    prediction_type VARCHAR(50) NOT NULL,
    model_version VARCHAR(100) NOT NULL,
    issued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    prediction_time TIMESTAMPTZ NOT NULL,
    horizon_minutes INTEGER NOT NULL,
    predicted_value DOUBLE PRECISION NOT NULL,
    lower_value DOUBLE PRECISION,
    upper_value DOUBLE PRECISION,
    confidence NUMERIC(5,2),
    actual_value DOUBLE PRECISION,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_predictions_building_time ON ml_predictions(building_id, prediction_time DESC);
CREATE INDEX idx_predictions_type ON ml_predictions(prediction_type);

CREATE TABLE optimization_plans (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    horizon_start TIMESTAMPTZ NOT NULL,
    step_s INTEGER NOT NULL,
    status VARCHAR(30) NOT NULL,
    reason TEXT,
    summary JSONB NOT NULL DEFAULT '{}',
    plan JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_plans_building ON optimization_plans(building_id, created_at DESC);

CREATE TABLE control_commands (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id),
    building_id UUID REFERENCES buildings(id),
    zone_id UUID REFERENCES zones(id),
    hvac_unit_id UUID REFERENCES hvac_units(id),
    thermostat_id UUID REFERENCES thermostats(id),
    command_type VARCHAR(50) NOT NULL,
    command_data JSONB NOT NULL DEFAULT '{}',
    source VARCHAR(50) NOT NULL
        CHECK (source IN ('manual', 'automated', 'schedule', 'ml', 'optimizer', 'watchdog')),
    status VARCHAR(50) NOT NULL
        CHECK (status IN ('pending', 'sent', 'confirmed', 'failed', 'rejected', 'released', 'overridden')),
    priority INTEGER,
    lifetime_s INTEGER,
    expires_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    confirmed_at TIMESTAMPTZ,
    released_at TIMESTAMPTZ,
    error_message TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_commands_hvac ON control_commands(hvac_unit_id);
CREATE INDEX idx_commands_user ON control_commands(user_id);
CREATE INDEX idx_commands_created ON control_commands(created_at DESC);
CREATE INDEX idx_commands_active ON control_commands(expires_at)
    WHERE status = 'confirmed' AND released_at IS NULL;

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    time TIMESTAMPTZ NOT NULL DEFAULT now(),
    user_id UUID REFERENCES users(id),
    actor TEXT NOT NULL,
    action VARCHAR(50) NOT NULL,
    resource VARCHAR(50) NOT NULL,
    resource_id TEXT,
    changes JSONB NOT NULL DEFAULT '{}',
    source VARCHAR(50),
    ip_address TEXT,
    user_agent TEXT,
    result VARCHAR(20) NOT NULL,
    error_message TEXT
);
CREATE INDEX idx_audit_time ON audit_log(time DESC);
CREATE INDEX idx_audit_resource ON audit_log(resource, resource_id);

CREATE TABLE energy_savings (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    building_id UUID REFERENCES buildings(id),
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    baseline_consumption_kwh NUMERIC(12,4),
    actual_consumption_kwh NUMERIC(12,4),
    savings_kwh NUMERIC(12,4),
    savings_pct NUMERIC(5,2),
    cost_savings_usd NUMERIC(12,2),
    co2_reduction_kg NUMERIC(12,2),
    calculation_method VARCHAR(100),
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_savings_building ON energy_savings(building_id);
CREATE INDEX idx_savings_period ON energy_savings(period_start DESC);

-- Rejected input, kept whole with the reason: nothing is silently dropped.
CREATE TABLE quarantine (
    id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    source VARCHAR(50) NOT NULL,
    topic TEXT,
    reason TEXT NOT NULL,
    payload BYTEA,
    metadata JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_quarantine_received ON quarantine(received_at DESC);

-- Latest value per point (kept by the writers).
CREATE TABLE live_state (
    sensor_id UUID PRIMARY KEY REFERENCES sensors(id) ON DELETE CASCADE,
    time TIMESTAMPTZ NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    unit VARCHAR(20) NOT NULL,
    quality SMALLINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

TIMESERIES = """
CREATE TABLE energy_readings (
    time TIMESTAMPTZ NOT NULL,
    point_id UUID NOT NULL REFERENCES sensors(id),
    building_id UUID NOT NULL REFERENCES buildings(id),
    zone_id UUID REFERENCES zones(id),
    hvac_unit_id UUID REFERENCES hvac_units(id),
    power_kw DOUBLE PRECISION,
    energy_total_kwh DOUBLE PRECISION,
    efficiency_ratio DOUBLE PRECISION,
    runtime_hours DOUBLE PRECISION,
    metadata JSONB,
    PRIMARY KEY (point_id, time)
){partition};

CREATE TABLE sensor_readings (
    time TIMESTAMPTZ NOT NULL,
    sensor_id UUID NOT NULL REFERENCES sensors(id),
    zone_id UUID REFERENCES zones(id),
    value DOUBLE PRECISION NOT NULL,
    unit VARCHAR(20) NOT NULL,
    quality SMALLINT NOT NULL DEFAULT 100,
    PRIMARY KEY (sensor_id, time)
){partition};

CREATE TABLE hvac_telemetry (
    time TIMESTAMPTZ NOT NULL,
    hvac_unit_id UUID NOT NULL REFERENCES hvac_units(id),
    supply_temp_c DOUBLE PRECISION,
    return_temp_c DOUBLE PRECISION,
    flow_rate_m3_per_h DOUBLE PRECISION,
    pressure_kpa DOUBLE PRECISION,
    compressor_speed_pct DOUBLE PRECISION,
    fan_speed_pct DOUBLE PRECISION,
    power_kw DOUBLE PRECISION,
    mode VARCHAR(50),
    status VARCHAR(50),
    fault_codes JSONB,
    metadata JSONB,
    PRIMARY KEY (hvac_unit_id, time)
){partition};

CREATE INDEX idx_energy_building_time ON energy_readings (building_id, time DESC);
CREATE INDEX idx_energy_zone_time ON energy_readings (zone_id, time DESC);
CREATE INDEX idx_energy_hvac_time ON energy_readings (hvac_unit_id, time DESC);
CREATE INDEX idx_sensor_readings_zone_time ON sensor_readings (zone_id, time DESC);
"""

TIMESERIES_TABLES = ("energy_readings", "sensor_readings", "hvac_telemetry")


def _timescale_available() -> bool:
    bind = op.get_bind()
    row = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


def upgrade() -> None:
    op.execute(ENTITIES)
    if _timescale_available():
        op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        op.execute(TIMESERIES.replace("{partition}", ""))
        for table in TIMESERIES_TABLES:
            op.execute(
                f"SELECT create_hypertable('{table}', 'time', chunk_time_interval => INTERVAL '1 day')"
            )
        op.execute("INSERT INTO sbems_meta VALUES ('timeseries_mode', 'timescaledb')")
    else:
        op.execute(TIMESERIES.replace("{partition}", " PARTITION BY RANGE (time)"))
        for table in TIMESERIES_TABLES:
            op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        op.execute("INSERT INTO sbems_meta VALUES ('timeseries_mode', 'partitioned')")


def downgrade() -> None:
    op.execute(
        "DROP TABLE IF EXISTS energy_readings, sensor_readings, hvac_telemetry, live_state, quarantine, "
        "energy_savings, audit_log, control_commands, optimization_plans, ml_predictions, ml_models, alerts, "
        "alert_rules, schedules, user_building_access, users, sensors, thermostats, hvac_units, zones, "
        "buildings, tariffs, sbems_meta CASCADE"
    )
