"""Pure domain model: units, site description, schedules, tariffs, permissions. No I/O here."""
