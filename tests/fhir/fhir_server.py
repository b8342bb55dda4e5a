"""A real FHIR server for the delivery tests: Medplum's FHIR router over its in-memory repository
(tests/fhir/server/, installed with ``npm ci`` by .ci/run), started as a process on loopback."""
from __future__ import annotations

import json
import selectors
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

SERVER_DIR = Path(__file__).resolve().parent / "server"
NODE = shutil.which("node")


def unavailable() -> str | None:
    """Why the server cannot run here, or None."""
    if NODE is None:
        return "node is not installed (.ci/run installs nodejs)"
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return "the test FHIR server is not installed: npm ci --prefix tests/fhir/server (.ci/run does it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FhirServer:
    """``start()`` the server on ``port`` and wait until it listens; ``stop()`` it (its data goes with it)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir/R4"

    def start(self, timeout_s: float = 90.0) -> FhirServer:
        major = int(subprocess.run([NODE, "-p", "process.versions.node.split('.')[0]"], capture_output=True,
                                   text=True, check=True).stdout)
        flags = ["--experimental-websocket"] if major < 22 else []  # Node 20 has no global WebSocket
        self.proc = subprocess.Popen([NODE, *flags, str(SERVER_DIR / "server.mjs"), "--port", str(self.port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):  # loading the FHIR definitions takes seconds on a loaded machine
            self.stop()
            raise RuntimeError(f"the FHIR server did not start within {timeout_s:g} s")
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            err = self.proc.stderr.read()[-2000:] if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"the FHIR server did not start: {line!r} {err}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.base}/{path}", timeout=30) as r:
            return json.loads(r.read())

    def search(self, kind: str, **params: str) -> list[dict]:
        """Every resource of ``kind`` matching ``params`` (one page of up to 1000)."""
        q = urllib.parse.urlencode({**params, "_count": "1000"})
        return [e["resource"] for e in self.get(f"{kind}?{q}").get("entry", [])]
