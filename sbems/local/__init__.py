"""The local runtime: embedded PostgreSQL and broker, service discovery, the demo, simulated backfill."""
