"""Must show 2 by hand (docs/weather.md, "Acceptance check"): a loopback server answering
``/v1/forecast`` with the Open-Meteo fixture (96 h from today 00:00 UTC, °C).

    PYTHONPATH=. python tests/weather/serve_fixture.py 18712 &
    SBEMS_WEATHER_PROVIDER=open-meteo SBEMS_WEATHER_URL=http://127.0.0.1:18712 \
        sbems flows run weather --building hq
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.weather.fixtures import encode, open_meteo_body


def main(port: int) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    body = encode(open_meteo_body(today, hours=96))  # forecast_days=4 from today's 00:00 UTC

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            print("GET", self.path, flush=True)
            ok = self.path.startswith("/v1/forecast?")
            answer = body if ok else b"{}"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]))
