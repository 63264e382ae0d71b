"""The local runtime, apart from production: the embedded PostgreSQL and broker (``sbems services``), the
demo (``sbems demo``), the simulated backfill and the panel's command line. Finding services (never starting
them) is :mod:`sbems.runtime`'s job."""
