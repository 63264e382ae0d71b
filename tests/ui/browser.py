"""A minimal headless-Chromium driver over the DevTools protocol (no extra packages): open a page, wait
for text, type into inputs, click, take a screenshot."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sbems.runtime import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


# DevTools errors of an evaluate that raced a navigation (the old document went away)
_NAVIGATING = ("navigated or closed", "Execution context was destroyed", "Cannot find context")


class Browser:
    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self._ws = connect(ws_url, max_size=64 * 1024 * 1024)
        self._ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=30))
            if message.get("id") == msg_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def reload(self) -> None:
        self.call("Page.reload", ignoreCache=True)

    def location(self) -> str:
        return self.evaluate("location.pathname") or ""

    def cookies(self) -> dict[str, str]:
        """The browser's cookies for the open page (HttpOnly ones included), by name."""
        return {c["name"]: c["value"] for c in self.call("Network.getCookies")["cookies"]}

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.call("Network.setCookie", name=name, value=value, url=url)

    def press(self, key: str, code: str | None = None, key_code: int = 0) -> None:
        """One key press (e.g. "Enter", key_code 13) sent to the focused element."""
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code or key,
                windowsVirtualKeyCode=key_code,
                nativeVirtualKeyCode=key_code,
            )

    def replace_text(self, selector: str, value: str) -> None:
        """Select an input's whole text and type ``value`` over it."""
        element = f"document.querySelector({json.dumps(selector)})"
        self.evaluate(f"(() => {{ const e = {element}; e.focus(); e.select(); }})()")
        self.call("Input.insertText", text=value)

    def choose(self, label: str, option: str) -> None:
        """Pick the option starting with ``option`` in the select box labelled ``label`` (type to filter,
        then click the first matching option of the list)."""
        self.replace_text(f"input[aria-label={json.dumps(label)}]", option)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            clicked = self.evaluate(
                "(() => { const o = [...document.querySelectorAll('[role=option]')].find("
                f"e => e.innerText.trim().startsWith({json.dumps(option)})); "
                "if (o) { o.click(); return true; } return false; })()"
            )
            if clicked:
                return
            time.sleep(0.2)
        raise LookupError(f"no option {option!r} in {label!r}")

    def value(self, selector: str) -> str | None:
        return self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            "return e ? e.value : null; })()"
        )

    def text(self) -> str:
        """The page's text; "" while a navigation (a reload, a redirect) replaces the document under us."""
        try:
            return self.evaluate("document.body ? document.body.innerText : ''") or ""
        except RuntimeError as exc:
            if any(word in str(exc) for word in _NAVIGATING):
                return ""
            raise

    def wait_for_text(self, needle: str, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            body = self.text()
            if needle in body:
                return body
            time.sleep(0.25)
        raise TimeoutError(f"{needle!r} did not appear; page says: {self.text()[:500]!r}")

    def wait_for_idle(self, timeout_s: float = 60.0) -> None:
        """Until the page's script has finished its run: no "running" status, no element still a
        placeholder (skeleton) or stale from the previous run, twice in a row."""
        busy = (
            "document.querySelectorAll('[data-testid=stStatusWidget], [data-testid=stSkeleton], "
            "[data-stale=true]').length"
        )
        deadline = time.monotonic() + timeout_s
        quiet = 0
        time.sleep(0.5)
        while time.monotonic() < deadline:
            try:
                running = self.evaluate(busy)
            except RuntimeError as exc:  # the page navigated between two looks: not idle yet
                if not any(word in str(exc) for word in _NAVIGATING):
                    raise
                running = True
            quiet = quiet + 1 if not running else 0
            if quiet >= 2:
                return
            time.sleep(0.3)
        raise TimeoutError("the page kept running")

    def wait_until_drawn(self, timeout_s: float = 30.0) -> None:
        """Until every chart and table in view has its canvas (they are drawn after the text), then two
        animation frames more so that a screenshot shows them painted."""
        undrawn = (  # in the viewport (what a screenshot shows; grids below it may wait to be scrolled to)
            "[...document.querySelectorAll('.vega-embed, [data-testid=stDataFrame]')].filter(e => "
            "e.offsetParent !== null && e.getBoundingClientRect().top < innerHeight "
            "&& !e.querySelector('canvas, svg.marks')).length"
        )
        deadline = time.monotonic() + timeout_s
        while self.evaluate(undrawn):
            if time.monotonic() > deadline:
                what = self.evaluate(
                    "[...document.querySelectorAll('.vega-embed, [data-testid=stDataFrame]')].filter(e => "
                    "!e.querySelector('canvas, svg.marks')).map(e => e.outerHTML.slice(0, 400)).join(' | ')"
                )
                raise TimeoutError(f"not drawn at {self.location()}: {what}")
            time.sleep(0.1)
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))")

    def type_into(self, selector: str, value: str) -> None:
        """Focus an input and type like a user (React sees real key events)."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=value)

    def click_button(self, label: str) -> None:
        clicked = self.evaluate(
            "(() => { const b = [...document.querySelectorAll('button')].find("
            f"e => e.innerText.trim() === {json.dumps(label)} || e.innerText.trim().endsWith("
            f"'\\n' + {json.dumps(label)})); "
            "if (b) { b.click(); return true; } return false; })()"
        )
        if not clicked:
            raise LookupError(f"no button {label!r}")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self._ws.close()


@contextlib.contextmanager
def headless_chromium(width: int = 1280, height: int = 860) -> Iterator[Browser]:
    port = free_port()
    profile = Path(tempfile.mkdtemp(prefix="sbems-chromium-"))
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-address=127.0.0.1",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    browser = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as response:
                    pages = [t for t in json.load(response) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not open its DevTools port")
            time.sleep(0.2)
        browser = Browser(pages[0]["webSocketDebuggerUrl"])
        browser.call("Page.enable")
        browser.call("Network.enable")
        yield browser
    finally:
        if browser is not None:
            browser.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(profile, ignore_errors=True)
