"""`neon worker`: Temporal workers in a process of their own, beside `neon up` or against a Temporal cluster.

It hosts the same worker as `neon up` does in-process (the `agent_worker_factory` setting, or `--factory`),
reaching Neon over HTTP like every worker. In embedded mode it finds the dev server that `neon up` started
through `$NEON_HOME/temporal/address`.

A process that used a Temporal client can abort at interpreter exit (an upstream bug, after its work is done),
so the caller ends it with `os._exit` once output is flushed (see `exit_now`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from temporalio.client import Client

from neon.credentials import load_credentials
from neon_server.execute.client import TemporalUnavailable, client_address, connect_client, ensure_search_attributes
from neon_server.execute.worker_host import LoopThread, WorkerHost, worker_factory
from neon_server.settings import Settings

log = logging.getLogger("neon.worker")

CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True)
class WorkerOptions:
    task_queue: str
    agents_path: Path
    factory: str
    neon_url: str
    setup: bool = False


def worker_options(settings: Settings, *, task_queue: str | None = None, agents: str | None = None,
                   factory: str | None = None, neon_url: str | None = None, setup: bool = False) -> WorkerOptions:
    """Flags over settings. Neon's URL: the flag, else NEON_PUBLIC_URL, else the URL `neon up` saved."""
    if not neon_url:
        saved = load_credentials(settings.home)
        neon_url = settings.public_url or (saved.base_url if saved else None) or settings.url_for_clients()
    return WorkerOptions(task_queue=task_queue or settings.agent_task_queue,
                         agents_path=Path(agents).expanduser() if agents else settings.agents_path,
                         factory=factory or settings.agent_worker_factory, neon_url=neon_url.rstrip("/"),
                         setup=setup)


def run_worker(settings: Settings, options: WorkerOptions, out: TextIO = sys.stdout,
               stop: threading.Event | None = None) -> int:
    """Connect, then host the worker until SIGINT/SIGTERM (or `stop` is set). Returns the exit code."""
    stop = stop or threading.Event()
    loop = LoopThread("neon-worker")
    loop.start()
    try:
        return _run(settings, options, loop, out, stop)
    finally:
        loop.stop()


def _run(settings: Settings, options: WorkerOptions, loop: LoopThread, out: TextIO, stop: threading.Event) -> int:
    try:
        address = client_address(settings)
    except TemporalUnavailable as exc:
        print(f"neon: {exc}", file=sys.stderr)
        return 1
    try:
        client = loop.call(connect_client(settings, address, connect_timeout=CONNECT_TIMEOUT), CONNECT_TIMEOUT + 5)
    except (TemporalUnavailable, TimeoutError) as exc:
        hint = f" (is `neon up` running with NEON_HOME={settings.home}?)" if settings.temporal_embedded else ""
        print(f"neon: {exc}{hint}", file=sys.stderr)
        return 1
    if options.setup:
        try:
            added = loop.call(ensure_search_attributes(client), CONNECT_TIMEOUT)
        except (TemporalUnavailable, TimeoutError) as exc:
            print(f"neon: {exc}", file=sys.stderr)
            return 1
        print(f"search attributes on namespace {client.namespace}: "
              + (f"added {', '.join(added)}" if added else "all present"), file=out, flush=True)
        return 0

    async def get_client() -> Client:
        return client

    factory = worker_factory(options.factory, task_queue=options.task_queue, agents_path=options.agents_path,
                             neon_url=options.neon_url)
    host = WorkerHost(factory, get_client, task_queue=options.task_queue, loop=loop,
                      shutdown_timeout=settings.shutdown_timeout_seconds)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    host.start()
    try:
        while host.status == "starting" and not stop.wait(0.05):
            pass
        if host.status == "down":  # it never ran: a bad factory or agents folder is a usage error, say it now
            print(f"neon: the worker cannot start: {host.last_error}", file=sys.stderr)
            return 1
        if host.status == "ok":
            print(f"neon worker polling task queue {options.task_queue} on {address} "
                  f"(namespace {client.namespace}); Neon at {options.neon_url}. Ctrl-C to stop.",
                  file=out, flush=True)
        stop.wait()
        log.info("stopping the worker", extra={"fields": {"task_queue": options.task_queue}})
        return 0
    finally:
        host.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_now(code: int) -> None:
    """Flush and end the process without interpreter teardown (the Temporal client exit bug)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    logging.shutdown()
    os._exit(code)

