"""Fixtures of the notification tests: a real HTTP endpoint on loopback that records what apprise posts,
and a database holding the example site."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from sbems.storage import entities


class Recorder:
    """An HTTP server on 127.0.0.1 that answers every POST with 200 (after ``delay_s``) and keeps its JSON."""

    def __init__(self, port: int = 0, delay_s: float = 0.0) -> None:
        self.posts: list[dict] = []
        self.delay_s = delay_s
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(recorder.delay_s)
                with recorder.lock:
                    recorder.posts.append({"path": self.path, **json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/alerts", query: str = "") -> str:
        return f"json://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    def titles(self) -> list[str]:
        with self.lock:
            return [post["title"] for post in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def site_db_url(db_url: str, example_site) -> str:
    """A migrated database with the example site (building ``hq``, America/New_York) imported."""
    with psycopg.connect(db_url) as conn:
        entities.upsert_site(conn, site=example_site)
    return db_url
