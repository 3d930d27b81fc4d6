"""Start a convroute server process on a fresh database, for benchmarks and process tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from convroute.bootstrap import bootstrap
from convroute.config import Settings
from convroute.domain.ids import new_id
from convroute.domain.models import Route, RouteDestination
from convroute.domain.statuses import TrafficClass
from convroute.services.accounts import new_account


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database(database_url: str, secret_key: str | None = None) -> dict[str, object]:
    """Migrate, add a route and an account; the account's credentials (as ``accounts create``)."""
    c = bootstrap(Settings(database_url=database_url, secret_key=secret_key))
    try:
        now = c.clock()
        if not any(r.name == "bench" for r in c.store.routes()):  # (a database used before)
            c.store.add_route(
                Route(new_id(now), "bench", True, "simulated", (RouteDestination("*", 0.03),), now)
            )
        created = new_account("bench-" + new_id(now)[-8:], TrafficClass.TWO_FA, now)
        c.store.create_account(created)
        return created.as_json()
    finally:
        c.close()


@dataclass
class Server:
    """A ``convroute serve`` child process."""

    database_url: str
    workers: int = 1
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    ssl_context: ssl.SSLContext | None = None  # set: the server speaks HTTPS (and is trusted)
    # "granian": the same app under granian (Rust HTTP) instead of ``convroute serve``'s
    # uvicorn, for the side-by-side comparison (docs/benchmarks.md); ``pip install granian``
    http_server: str = "uvicorn"
    extra: tuple[str, ...] = ()  # more ``convroute serve`` options (``--demo``)

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        env = {**os.environ, **self.env, "CONVROUTE_LOG_LEVEL": "warning"}
        args = [
            sys.executable,
            "-m",
            "convroute.cli",
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--database-url",
            self.database_url,
            *self.extra,
        ]
        if self.http_server == "granian":
            env["CONVROUTE_DATABASE_URL"] = self.database_url
            args = [
                sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
                "--loop", "uvloop", "--no-ws", "--log-level", "warning",
                "convroute.api.app:app_from_environment",
            ]  # fmt: skip
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                args, env=env, stdout=out, stderr=out, start_new_session=True
            )
        finally:
            if not isinstance(out, int):
                out.close()  # the child holds its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                ready = self.base_url + "/readyz"
                with urllib.request.urlopen(ready, timeout=1, context=self.ssl_context) as r:  # noqa: S310
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL the whole process group: no graceful shutdown, no flush."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def writer_pids(self) -> list[int]:
        """The server's writer processes (``python -m convroute.writer``), from /proc."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                pgid = os.getpgid(int(entry.name))
            except OSError:
                continue
            if b"convroute.writer" in cmdline and self.process and pgid == self.process.pid:
                pids.append(int(entry.name))
        return pids

    def kill_writer(self) -> None:
        """SIGKILL the server's writer process(es) only: the server goes on."""
        for pid in self.writer_pids():
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def post_json(url: str, body: dict[str, object], token: str) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310
        url,
        json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
        result: dict[str, object] = json.loads(r.read())
        return result
