"""`neon up`: bind the port, open the stores, make sure there is a project and a key, start Temporal, serve
until stopped.

Order matters for clear failures: the port is bound first (a taken port fails in milliseconds, before any
data is touched), then the stores are opened (a data folder owned by another process fails next), then
Temporal starts in the background (the dev server child and the worker thread; Neon serves even while it is
down), then uvicorn serves on the already-listening socket. SIGINT/SIGTERM stop accepting, finish in-flight
requests, stop the worker and the dev server, and close the stores (which flushes anything buffered) before
the process exits.
"""

from __future__ import annotations

import errno
import gc
import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import uvicorn

from neon.credentials import Credentials, credentials_path, load_credentials, save_credentials
from neon_server import __version__
from neon_server.app import create_app
from neon_server.ingest.default_prices import preload as preload_prices
from neon_server.runtime import Services, open_services
from neon_server.services.errors import Unauthorized
from neon_server.services.projects import DEFAULT_PROJECT
from neon_server.settings import Settings

if TYPE_CHECKING:
    from neon_server.execute.worker_host import WorkerFactory

log = logging.getLogger("neon.server")


class StartupError(RuntimeError):
    """The server cannot start; the message says why and what to do."""


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use (is Neon running already?). "
                "Stop that process or choose another port with --port or NEON_PORT."
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(f"no permission to listen on {host}:{port}; use a port above 1024") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def ensure_credentials(services: Services, base_url: str, home: Path) -> list[str]:
    """Create the default project and a key on an empty store; lines for the banner about the key to use."""
    created = services.projects.bootstrap()
    if created is not None:
        project, _key, secret = created
        path = save_credentials(Credentials(base_url=base_url, project=project.name, api_key=secret), home)
        return [f"  Project:  {project.name} (created now)",
                f"  API key:  {secret}",
                f"            shown once, saved to {path} (mode 0600)",
                f"  Web UI:   {base_url}/#key={secret}"]
    saved = load_credentials(home)
    if saved is not None:
        try:
            principal = services.keys.authenticate(saved.api_key)
        except Unauthorized as exc:
            return [f"  API key:  the key saved in {credentials_path(home)} does not work here ({exc.message}).",
                    f"            Create one: neon keys create --project {DEFAULT_PROJECT} --save"]
        project = services.projects.get(principal.project_id)
        if saved.base_url != base_url or saved.project != project.name:
            save_credentials(Credentials(base_url=base_url, project=project.name, api_key=saved.api_key), home)
        return [f"  Project:  {project.name}", f"  API key:  {saved.api_key}",
                f"            from {credentials_path(home)}", f"  Web UI:   {base_url}/#key={saved.api_key}"]
    return ["  API key:  none saved on this machine.",
            f"            Create one: neon keys create --project {DEFAULT_PROJECT} --save",
            f"  Web UI:   {base_url}"]


class _signals_return_normally:
    """uvicorn re-raises the SIGINT/SIGTERM it caught once it has shut down, with the handlers that were in
    place before it started. Installing no-op handlers for that moment lets `serve` return and close the
    stores (flushing buffers) instead of the process dying on the re-raised signal."""

    def __enter__(self) -> None:
        self._previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _ignore(_sig: int, _frame: Any) -> None:
    return None


def temporal_lines(services: Services) -> list[str]:
    runtime = services.temporal
    if runtime is None:
        return []
    lines = [f"  Temporal: {runtime.banner()}"]
    if runtime.worker_host is not None:
        lines.append(f"  Worker:   in-process, task queue {runtime.worker_host.task_queue}, "
                     f"agents from {services.settings.agents_path}")
    return lines


def serve(settings: Settings, out: TextIO = sys.stdout, *, worker_factory: WorkerFactory | None = None) -> None:
    """Run the server until SIGINT/SIGTERM. Raises StartupError (port, lock) and store errors.

    Temporal starts in the background once the stores are open (a second Neon on the same folder fails on
    the store lock before touching Temporal's database); `worker_factory` replaces the in-process worker's
    default factory."""
    sock = bind_socket(settings.host, settings.port)
    # The default model prices take ~1.5 s to load: they load beside startup and serving, so neither the health
    # check nor the first ingest request (which waits only for what is left) pays for all of it.
    prices = threading.Thread(target=preload_prices, name="neon-prices-load", daemon=True)
    prices.start()
    try:
        services = open_services(settings)
    except BaseException:
        sock.close()
        prices.join(timeout=30)
        raise
    try:
        base_url = settings.url_for_clients(sock.getsockname()[1])
        key_lines = ensure_credentials(services, base_url, settings.home)
        services.start_temporal(base_url, worker_factory)
        print(f"Neon {__version__} is running at {base_url}", *key_lines,
              f"  Health:   {base_url}/api/health",
              f"  API docs: {base_url}/api/docs",
              f"  Data:     analytics {services.analytics.kind} ({settings.analytics_url}), "
              f"metadata {services.metadata.backend}",
              *temporal_lines(services),
              "Press Ctrl-C to stop.", sep="\n", file=out, flush=True)
        config = uvicorn.Config(
            create_app(services),
            log_config=None,
            access_log=settings.log_level == "debug",
            server_header=False,
            timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
        )
        # Ingestion allocates many short-lived objects per span; everything alive at start (modules, stores)
        # is frozen out of the collector's scans and young collections run less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        with _signals_return_normally():
            uvicorn.Server(config).run(sockets=[sock])
        log.info("server stopped; closing stores")
    finally:
        prices.join(timeout=30)  # not mid-import while the interpreter exits
        services.close()
        sock.close()
