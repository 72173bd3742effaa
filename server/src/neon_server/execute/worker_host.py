"""Hosting Temporal workers on a background thread with its own asyncio loop.

Inside `neon up` uvicorn owns the main thread's loop; workers (polling, workflow activations, activities)
run on a separate loop so neither can stall the other. The host does not know what the worker runs: a
`WorkerFactory` builds it from a connected client. If the worker fails (or cannot be built) the host
records the error for /api/health and tries again with backoff; Neon keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from temporalio.client import Client
from temporalio.worker import Worker

log = logging.getLogger("neon.temporal")

T = TypeVar("T")
WorkerFactory = Callable[[Client], Awaitable[Worker]]
"""`async def make_worker(client) -> Worker`: builds (does not run) the worker to host."""
WorkerStatus = Literal["starting", "ok", "down", "stopped"]
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0


class FactoryError(RuntimeError):
    """The worker factory cannot be loaded or did not return a Worker."""


def load_function(spec: str) -> Callable[..., Any]:
    """Import `module:function` (the form of the agent_worker_factory setting and `--factory`)."""
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = " (install the agents extra: pip install 'neon[agents]')" if module_name.startswith("neon.") else ""
        raise FactoryError(f"cannot load the worker factory {spec}: {exc}{hint}") from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise FactoryError(f"cannot load the worker factory {spec}: {module_name} has no function {name!r}")
    return function  # type: ignore[no-any-return]


def worker_factory(target: str | Callable[..., Any], *, task_queue: str, agents_path: Path,
                   neon_url: str) -> WorkerFactory:
    """A WorkerFactory over a function shaped like `neon.execute.worker.create_worker`:
    `create_worker(client, *, task_queue, agents_path, neon_url)` returning a Worker (or an awaitable of one).

    `target` may be `"module:function"`; it is imported when the worker is built, so a missing module shows as
    a worker error in health instead of stopping Neon.
    """

    async def make_worker(client: Client) -> Worker:
        function = load_function(target) if isinstance(target, str) else target
        made = function(client, task_queue=task_queue, agents_path=agents_path, neon_url=neon_url)
        if inspect.isawaitable(made):
            made = await made
        if not isinstance(made, Worker):
            raise FactoryError(f"the worker factory {target} returned {type(made).__name__}, not a Worker")
        return made

    return make_worker


class LoopThread:
    """An asyncio loop running forever on its own daemon thread; other threads submit coroutines to it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and wait for its result (TimeoutError after `timeout`)."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g}s") from None

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what still runs on the loop, stop it and close it."""
        if not self._thread.is_alive():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)

        try:
            self.call(cancel_all(), timeout + 1)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.loop.close()


class WorkerHost:
    """Builds a worker with `factory` once a client is available, runs it, and rebuilds it if it fails."""

    def __init__(self, factory: WorkerFactory, get_client: Callable[[], Awaitable[Client]], *, task_queue: str,
                 loop: LoopThread | None = None, shutdown_timeout: float = 10.0) -> None:
        self.factory = factory
        self.get_client = get_client
        self.task_queue = task_queue  # what the factory was told to poll: for health
        self.shutdown_timeout = shutdown_timeout
        self._own_loop = loop is None
        self._loop = loop or LoopThread("neon-temporal-worker")
        self.status: WorkerStatus = "stopped"
        self.started_at: datetime | None = None
        self.last_error: str | None = None
        self.restarts = 0
        self._worker: Worker | None = None
        self._task: concurrent.futures.Future[None] | None = None
        self._run_task: asyncio.Task[Any] | None = None
        self._stopping = threading.Event()
        self._running = threading.Event()

    @property
    def worker(self) -> Worker | None:
        return self._worker

    def health(self) -> dict[str, Any]:
        return {"status": self.status, "task_queue": self.task_queue, "restarts": self.restarts,
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "last_error": self.last_error}

    def start(self) -> None:
        if self._own_loop:
            self._loop.start()
        self.status = "starting"
        self._task = self._loop.submit(self._supervise())

    def wait_running(self, timeout: float) -> bool:
        """Block until the worker runs (True) or the timeout passes (False). For CLIs and tests."""
        return self._running.wait(timeout)

    def stop(self) -> None:
        """Shut the worker down gracefully (in-flight tasks get `shutdown_timeout`), then stop."""
        if self._task is None:
            return
        try:
            self._loop.call(self._shutdown(), self.shutdown_timeout + 5)
        except TimeoutError:
            log.warning("temporal worker did not stop in time", extra={"fields": {"task_queue": self.task_queue}})
        finally:
            self._task = None
            self.status = "stopped"
            if self._own_loop:
                self._loop.stop()

    async def _shutdown(self) -> None:
        self._stopping.set()
        worker = self._worker
        if worker is not None and worker.is_running:
            try:
                await asyncio.wait_for(worker.shutdown(), self.shutdown_timeout)
            except TimeoutError:
                log.warning("temporal worker shutdown timed out; cancelling it")
        task = self._run_task
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=1.0)  # run() returns once the worker is shut down
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _supervise(self) -> None:
        self._run_task = asyncio.current_task()
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                client = await self.get_client()
                self._worker = await self.factory(client)
                self.status, self.started_at, self.last_error = "ok", datetime.now(UTC), None
                self._running.set()
                log.info("temporal worker running", extra={"fields": {"task_queue": self.task_queue}})
                backoff = BACKOFF_FIRST
                await self._worker.run()
                if self._stopping.is_set():
                    break
                self.last_error = "the worker stopped by itself"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the factory or the worker is reported, not fatal
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._running.clear()
            if self._stopping.is_set():
                break
            self.status = "down"
            self.restarts += 1
            log.error("temporal worker down; retrying", extra={"fields": {
                "task_queue": self.task_queue, "error": self.last_error, "in_seconds": backoff}})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
        self._running.clear()
        self.status = "stopped"
