"""The HTTP API (FastAPI, ``/api/v1``): calls services only (docs/api.md)."""
