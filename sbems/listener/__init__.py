"""The long-running MQTT listener (``sbems listener``): parse -> validate -> store, fast, losing nothing.

Entry points: :func:`run` (alias :func:`main`) takes the settings and blocks until SIGTERM/SIGINT;
:class:`Listener` is the embeddable object (start/stop) used by tests and the benchmark.
"""

from sbems.listener.options import ListenerOptions
from sbems.listener.service import Listener, main, run
from sbems.listener.store import DatabaseUnavailable

__all__ = ["DatabaseUnavailable", "Listener", "ListenerOptions", "main", "run"]
