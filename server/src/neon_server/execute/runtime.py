"""Temporal inside `neon up`: the dev server (or a cluster), one client, and the in-process worker host.

Everything Temporal runs on one background thread's asyncio loop ("neon-temporal"): connecting, health checks
and the worker. Starting never blocks Neon and never fails it: while Temporal is unreachable the runtime keeps
trying, /api/health says why, and the rest of Neon serves. Stopping goes worker → client → dev server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.client import Client

from neon_server.execute.client import TemporalUnavailable, connect_client, describe_namespace
from neon_server.execute.devserver import DevServer
from neon_server.execute.worker_host import LoopThread, WorkerFactory, WorkerHost, worker_factory
from neon_server.settings import Settings

log = logging.getLogger("neon.temporal")

HEALTH_TIMEOUT = 2.0
CONNECT_BACKOFF_FIRST, CONNECT_BACKOFF_MAX = 0.5, 15.0


class TemporalRuntime:
    """Owns the dev server (embedded mode), the client and the worker host of one Neon process.

    `worker_factory` replaces the default factory (the `agent_worker_factory` setting, normally
    `neon.execute.worker:create_worker`); tests pass one that hosts a small workflow.
    """

    def __init__(self, settings: Settings, *, neon_url: str, factory: WorkerFactory | None = None) -> None:
        self.settings = settings
        self.namespace = settings.temporal_namespace
        self.devserver: DevServer | None = None
        if settings.temporal_embedded:
            self.devserver = DevServer(settings.temporal_dir, namespace=settings.temporal_namespace,
                                       port=settings.temporal_dev_port,
                                       stop_timeout=min(settings.shutdown_timeout_seconds, 10.0))
        self.loop = LoopThread("neon-temporal")
        self.worker_host: WorkerHost | None = None
        if settings.agent_worker:
            factory = factory or worker_factory(settings.agent_worker_factory, task_queue=settings.agent_task_queue,
                                                agents_path=settings.agents_path, neon_url=neon_url)
            self.worker_host = WorkerHost(factory, self.wait_client, task_queue=settings.agent_task_queue,
                                          loop=self.loop, shutdown_timeout=settings.shutdown_timeout_seconds)
        self.last_error: str | None = None
        self._client: Client | None = None
        self._connected: asyncio.Event | None = None
        self._started = False

    # ------------------------------------------------------------------ what others use
    @property
    def embedded(self) -> bool:
        return self.devserver is not None

    @property
    def address(self) -> str:
        return self.devserver.address if self.devserver else self.settings.temporal_address

    @property
    def client(self) -> Client | None:
        """The connected client, or None while Temporal has not been reached. Usable from any event loop."""
        return self._client

    def require_client(self) -> Client:
        """The connected client; TemporalUnavailable (naming the address and the last error) before that."""
        if self._client is None:
            raise TemporalUnavailable(f"Temporal at {self.address} is not reachable yet"
                                      + (f": {self.last_error}" if self.last_error else ""))
        return self._client

    async def wait_client(self) -> Client:
        """Wait until connected (runs on the runtime's loop; the worker host uses it)."""
        if self._connected is None:
            raise RuntimeError("wait_client runs on the runtime's loop after start()")
        await self._connected.wait()
        assert self._client is not None
        return self._client

    def banner(self) -> str:
        if self.devserver is not None:
            return (f"embedded dev server at {self.devserver.address}, namespace {self.namespace}, "
                    f"db {self.devserver.db_path}")
        return f"cluster at {self.address}, namespace {self.namespace}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the dev server (embedded), connecting, and the worker host; returns at once."""
        self._started = True
        if self.devserver is not None:
            self.devserver.start()
        self.loop.start()
        self.loop.call(self._make_event(), timeout=5)
        self.loop.submit(self._connect())
        if self.worker_host is not None:
            self.worker_host.start()

    def stop(self) -> None:
        """Worker first (in-flight tasks finish or are handed back to Temporal), then the client's loop, then
        the dev server."""
        if not self._started:
            return
        self._started = False
        try:
            if self.worker_host is not None:
                self.worker_host.stop()
        finally:
            try:
                self._client = None  # temporalio clients have nothing to close: dropping it closes its channel
                self.loop.stop()
            finally:
                if self.devserver is not None:
                    self.devserver.stop()

    async def _make_event(self) -> None:
        self._connected = asyncio.Event()

    async def _connect(self) -> None:
        backoff = CONNECT_BACKOFF_FIRST
        while True:
            if self.devserver is not None and not self.devserver.ready:
                await asyncio.sleep(0.02)  # the supervisor records why it is not up (health shows it)
                continue
            try:
                self._client = await connect_client(self.settings, self.address)
            except TemporalUnavailable as exc:
                if str(exc) != self.last_error:
                    log.error("cannot reach Temporal; retrying", extra={"fields": {"error": str(exc)}})
                self.last_error = str(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, CONNECT_BACKOFF_MAX)
                continue
            self.last_error = None
            assert self._connected is not None
            self._connected.set()
            log.info("connected to Temporal", extra={"fields": {"address": self.address, "namespace": self.namespace}})
            return

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        """`status` ok when the frontend answers for our namespace right now (a real round trip)."""
        report: dict[str, Any] = {"status": "down", "embedded": self.embedded, "address": self.address,
                                  "namespace": self.namespace}
        if self.devserver is not None:
            dev = self.devserver.health()
            report.update(db=dev["db"], pid=dev["pid"], restarts=dev["restarts"], started_at=dev["started_at"])
        error = self.last_error or (self.devserver.last_error if self.devserver else None)
        client = self._client
        if client is not None and self._started:
            try:
                self.loop.call(describe_namespace(client, rpc_timeout=HEALTH_TIMEOUT), HEALTH_TIMEOUT + 1)
                report["status"] = "ok"
                error = None
            except (TemporalUnavailable, TimeoutError, RuntimeError) as exc:
                error = str(exc) or type(exc).__name__
        elif error is None:
            error = "starting" if self._started else "stopped"
        report["error"] = error
        return report

    def workers_health(self) -> dict[str, Any]:
        if self.worker_host is None:
            return {"status": "off", "in_process": False}
        return {"in_process": True, **self.worker_host.health()}
