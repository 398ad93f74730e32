"""A minimal headless-Chromium driver over the DevTools protocol on a pipe (no extra packages).

Chromium started with ``--remote-debugging-pipe`` reads JSON commands on fd 3 and writes replies
and events on fd 4, each message ending in a NUL byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = ROOT / "scripts" / "ensure_chromium.sh"


def find_chromium() -> str | None:
    """The Chromium binary: $CHROMIUM, else chromium / chromium-browser on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    """What loading one page produced."""

    images: list[dict[str, Any]]
    console: list[str] = field(
        default_factory=list
    )  # console.error/assert calls, exceptions, errors
    requests: list[str] = field(default_factory=list)  # every URL the page requested


class Chromium:
    """A headless Chromium; use as a context manager and call :meth:`load`."""

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="mechequiv-chromium-")
        self._log_path = Path(self._profile.name) / "stderr.log"
        self._log = self._log_path.open("wb")
        cmd_r, self._cmd_w = _high_fds(os.pipe())
        self._out_r, out_w = _high_fds(os.pipe())
        args = [
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}/profile",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(0, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        # bash (dash takes single-digit fds only) moves our pipe ends onto fds 3 and 4, where Chromium expects them.
        script = f'exec "$0" "$@" 3<&{cmd_r} 4>&{out_w} {cmd_r}<&- {out_w}>&-'
        self._proc = subprocess.Popen(
            ["bash", "-c", script, binary, *args],
            pass_fds=(cmd_r, out_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self._log.close()  # the child keeps its own descriptor
        os.close(cmd_r)
        os.close(out_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                self.send("Browser.close")
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._cmd_w, self._out_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._profile.cleanup()

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> Any:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_for(self, method: str, session: str) -> dict[str, Any]:
        """Block until the event ``method`` arrives for ``session``."""
        deadline = time.monotonic() + self.timeout
        seen = 0
        while True:
            for event in self._events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            seen = len(self._events)
            self._events.append(self._receive(deadline))

    def load(self, url: str, settle: float = 0.5) -> PageReport:
        """Open ``url`` in a new tab, wait for the load event, and report images and errors."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable", session=session)
        first = len(self._events)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        time.sleep(settle)  # late console messages
        images = self.send(
            "Runtime.evaluate",
            {
                "expression": "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
                " naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight}))",
                "returnByValue": True,
            },
            session=session,
        )["result"]["value"]
        report = PageReport(images=images)
        for event in self._events[first:]:
            if event.get("sessionId") != session:
                continue
            report_event(event, report)
        self.send("Target.closeTarget", {"targetId": target})
        return report

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from Chromium in time")
            ready, _, _ = select.select([self._out_r], [], [], left)
            if ready:
                chunk = os.read(self._out_r, 1 << 16)
                if not chunk:
                    tail = self._log_path.read_text(errors="replace").splitlines()[-5:]
                    raise RuntimeError(
                        f"Chromium exited (code {self._proc.wait(10)}): " + " | ".join(tail)
                    )
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def _high_fds(fds: tuple[int, int]) -> tuple[int, int]:
    """The pipe ends moved to descriptors >= 10, so that the shell's moves to 3 and 4 cannot clash."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved[0], moved[1]


def report_event(event: dict[str, Any], report: PageReport) -> None:
    """Add one DevTools event to ``report`` if it is an error or a request."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        text = " ".join(
            str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
        )
        report.console.append(f"console.{params['type']}: {text}")
    elif method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        report.console.append(
            f"exception: {details.get('exception', {}).get('description', details.get('text'))}"
        )
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        entry = params["entry"]
        report.console.append(
            f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
        )
    elif method == "Network.requestWillBeSent":
        report.requests.append(params.get("request", {}).get("url", ""))
