"""All SQL lives here: migrations, entities, readings (COPY), live state, quarantine, alerts, commands, audit.

Storage functions are keyword-only after the connection and never open connections themselves,
except the few ``connect``/``upgrade`` entry points in :mod:`sbems.storage.db`.
"""
