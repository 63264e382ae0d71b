"""HTTP for the weather providers: timeouts, retries with back-off, 429/Retry-After, conditional GETs.

Retried: connection errors and timeouts, 429 (waiting what Retry-After says, capped) and 5xx. Not retried:
other 4xx (the request is wrong; retrying will not fix it). A 304 answer to a conditional request
returns the body seen before: the ETag / Last-Modified of an answer and its body are remembered per URL
in this process and, with ``cache_dir``, on disk (a served deployment runs each flow run in a process of
its own, so only the disk copy reaches the next hourly run).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from sbems.weather.forecast import WeatherRefused

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 0.5
MAX_RETRY_AFTER_S = 30.0


@dataclass(frozen=True)
class HttpAnswer:
    """A successful answer: the body and the headers the providers use."""

    body: bytes
    last_modified: str | None
    not_modified: bool = False


# URL -> (validators, the answer they validate); lives as long as the process (a served deployment)
_VALIDATED: dict[str, tuple[dict[str, str], HttpAnswer]] = {}


def retry_after_s(value: str | None, default_s: float) -> float:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date), capped; default if absent."""
    if not value:
        return default_s
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return default_s
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def get_body(
    client: httpx.Client,
    url: str,
    *,
    source: str,
    params: dict | None = None,
    headers: dict | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = DEFAULT_BACKOFF_S,
    cache_dir: Path | None = None,
) -> HttpAnswer:
    """GET ``url``; raises WeatherRefused (with the last status or error) once the retries are spent.
    ``cache_dir``: where the validators and body of the last 200 answer per URL are kept across processes."""
    key = str(httpx.URL(url, params=params))
    validators, cached = _VALIDATED.get(key) or read_validated(cache_dir, key) or ({}, None)
    last = "no attempt"
    for attempt in range(attempts):
        wait_s = backoff_s * 2**attempt
        try:
            response = client.get(url, params=params, headers={**(headers or {}), **validators})
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 304 and cached is not None:
                return HttpAnswer(cached.body, cached.last_modified, not_modified=True)
            if response.status_code == 200:
                answer = HttpAnswer(response.content, response.headers.get("last-modified"))
                _remember(key, response, answer, cache_dir)
                return answer
            last = f"HTTP {response.status_code}"
            if response.status_code == 429:
                wait_s = retry_after_s(response.headers.get("retry-after"), wait_s)
            elif response.status_code < 500:
                raise WeatherRefused(source, f"{last} from {key}", response.content)
        if attempt + 1 < attempts:
            time.sleep(wait_s)
    raise WeatherRefused(source, f"{last} from {key} after {attempts} attempts")


def _remember(key: str, response: httpx.Response, answer: HttpAnswer, cache_dir: Path | None) -> None:
    validators = {}
    if etag := response.headers.get("etag"):
        validators["If-None-Match"] = etag
    if answer.last_modified:
        validators["If-Modified-Since"] = answer.last_modified
    if validators:
        _VALIDATED[key] = (validators, answer)
        write_validated(cache_dir, key, validators, answer)


def _cache_paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    return cache_dir / f"{name}.json", cache_dir / f"{name}.body"


def read_validated(cache_dir: Path | None, key: str) -> tuple[dict[str, str], HttpAnswer] | None:
    """The validators and body remembered on disk for ``key`` (None when absent or unreadable: the request
    is then unconditional, which is always safe)."""
    if cache_dir is None:
        return None
    meta_path, body_path = _cache_paths(Path(cache_dir), key)
    try:
        meta = json.loads(meta_path.read_text())
        body = body_path.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("url") != key or not isinstance(meta.get("validators"), dict):
        return None
    return meta["validators"], HttpAnswer(body, meta.get("last_modified"))


def write_validated(cache_dir: Path | None, key: str, validators: dict[str, str], answer: HttpAnswer) -> None:
    """Remember the validators and body of a 200 answer on disk (body first: a torn write is unreadable,
    never a body paired with the wrong validators)."""
    if cache_dir is None:
        return
    meta_path, body_path = _cache_paths(Path(cache_dir), key)
    meta = {"url": key, "validators": validators, "last_modified": answer.last_modified}
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        meta_path.unlink(missing_ok=True)
        body_path.write_bytes(answer.body)
        meta_path.write_text(json.dumps(meta))
    except OSError:
        pass  # the cache only saves bandwidth: without it the next request is unconditional
