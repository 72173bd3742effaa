"""`neon import neptune PATH` and `neon export PATH`: neptune-exporter Parquet in and out, through the HTTP API.

The CLI never opens the store (in embedded mode `neon up` owns it): it reads Parquet here and sends the rows to
`POST /api/track/import` as Arrow IPC, a batch at a time, parents before their forks; `neon export` reads
`GET /api/track/export` and writes Parquet in the exporter's layout. Both need pyarrow, which the SDK itself does
not depend on.
"""

from __future__ import annotations

import argparse
import io
import queue
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

EXIT_ERROR = 1
EXIT_USAGE = 2
ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_REQUEST_BYTES = 24 * 2**20  # under the server's default body limit (32 MiB)
NEEDS_PYARROW = "`neon {command}` reads and writes Parquet and needs pyarrow: pip install pyarrow"


def register(commands: Any) -> None:
    """Add `import` and `export` to the `neon` parser's subcommands."""
    imp = commands.add_parser("import", help="import training runs from another tracker's export")
    sources = imp.add_subparsers(dest="source", metavar="SOURCE", required=True)
    neptune = sources.add_parser(
        "neptune", help="neptune-exporter Parquet (its data folder, or one project's folder)",
        description="Imports the fully exported runs (those with part_0) into the API key's project; importing "
                    "again changes nothing. See docs/track-import.md.")
    neptune.add_argument("path", type=Path, help="the exporter's output: exports/, exports/data or a project folder")
    neptune.add_argument("--project", help="which exported project (workspace/project as exported, or its folder "
                                           "name); needed when the export holds several")
    neptune.add_argument("--batch-rows", type=int, default=200_000, help="rows per request (default 200000)")
    neptune.add_argument("--jobs", type=int, default=2, help="runs sent at once (default 2)")
    _server_options(neptune)
    neptune.set_defaults(handler=cmd_import_neptune)
    exp = commands.add_parser("export", help="export training runs as neptune-exporter Parquet",
                              description="Writes <PATH>/<project>/<run>_part_<n>.parquet in neptune-exporter's "
                                          "shape, which `neon import neptune` and the exporter's loaders read.")
    exp.add_argument("path", type=Path, help="folder to write into (created when missing)")
    exp.add_argument("--run", action="append", metavar="RUN_ID", help="a run to export; repeatable (default: all)")
    _server_options(exp)
    exp.set_defaults(handler=cmd_export)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="server URL (NEON_BASE_URL, else the saved credentials)")
    parser.add_argument("--api-key", help="API key (NEON_API_KEY, else the saved credentials)")


def _fail(message: str, code: int) -> int:
    print(f"neon: {message}", file=sys.stderr)
    return code


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


class ImportProgress:
    """Runs and rows done out of total, one rewritten line on a terminal, else a line every 10 % of rows."""

    def __init__(self, runs: int, rows: int, stream: TextIO | None = None) -> None:
        self.runs, self.rows = runs, rows
        self.runs_done = self.rows_done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._tenth = -1
        self.started = time.perf_counter()

    def advance(self, rows: int = 0, runs: int = 0) -> None:
        self.rows_done += rows
        self.runs_done += runs
        tenth = self.rows_done * 10 // max(self.rows, 1)
        if not self.tty and tenth == self._tenth and self.runs_done != self.runs:
            return
        self._tenth = tenth
        elapsed = time.perf_counter() - self.started
        rate = self.rows_done / elapsed if elapsed > 0 else 0.0
        line = (f"importing: {self.runs_done}/{self.runs} runs, {self.rows_done:,}/{self.rows:,} rows "
                f"({rate:,.0f} rows/s)")
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def cmd_import_neptune(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one exit per failure
    if not _has_pyarrow():
        return _fail(NEEDS_PYARROW.format(command="import neptune"), EXIT_USAGE)
    import httpx

    from neon.cli import exporter_layout as layout
    from neon.client import NeonClient, NeonError

    if not args.path.is_dir():
        return _fail(f"{args.path} is not a folder", EXIT_USAGE)
    try:
        dirs = layout.choose_project(layout.project_dirs(args.path), args.project)
        runs: list[layout.RunFiles] = []
        for folder in dirs:
            found = layout.find_runs(folder)
            for stem in found.incomplete:
                print(f"neon: skipping {folder / stem}: not fully exported (no part_0)", file=sys.stderr)
            for run in found.runs:
                layout.read_lineage(run)
            runs += found.runs
    except (ValueError, layout.ImportFileError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    if not runs:
        return _fail(f"no fully exported runs under {args.path}", EXIT_USAGE)
    ordered = layout.parents_first(runs)
    progress = ImportProgress(len(ordered), sum(r.rows for r in ordered))
    totals = Totals()
    try:
        with NeonClient(args.base_url, args.api_key, timeout=600) as client:
            _import_all(client, ordered, args.batch_rows, max(1, args.jobs), progress=progress, totals=totals)
    except NeonError as exc:
        progress.close()
        return _fail(exc.message, EXIT_USAGE if 400 <= exc.status_code < 500 else EXIT_ERROR)
    except httpx.HTTPError as exc:
        progress.close()
        return _fail(f"cannot reach the server: {exc}", EXIT_ERROR)
    progress.close()
    print(totals.report(len(ordered), progress.rows_done, time.perf_counter() - progress.started))
    return EXIT_ERROR if totals.errors else 0


class Totals:
    def __init__(self) -> None:
        self.created: list[str] = []
        self.existing: list[str] = []
        self.detached: list[str] = []
        self.relinked: list[str] = []
        self.written = 0
        self.file_refs = 0
        self.errors: list[str] = []

    def add(self, answer: dict[str, Any]) -> None:
        self.created += [r for r in answer.get("runs_created", []) if r not in self.created]
        self.existing += [r for r in answer.get("runs_existing", [])
                          if r not in self.existing and r not in self.created]
        self.detached += [r for r in answer.get("detached", []) if r not in self.detached]
        self.relinked += answer.get("relinked", [])
        self.written += int(answer.get("written", 0))
        self.errors += [f"rejected: {r}" for r in answer.get("rejected", [])]

    def report(self, runs: int, rows: int, seconds: float) -> str:
        lines = [f"imported {runs} run(s), {rows:,} rows in {seconds:.1f} s: {len(self.created)} created, "
                 f"{len(self.existing)} already there (unchanged), {self.written:,} values written"]
        if self.detached:
            lines.append(f"  forks whose parent is not in the project (kept without lineage; importing again "
                         f"once the parent is there links them): {', '.join(self.detached)}")
        if self.relinked:
            lines.append(f"  linked to their parent: {', '.join(self.relinked)}")
        if self.file_refs:
            lines.append(f"  {self.file_refs:,} file reference(s) imported as references (paths relative to the "
                         "exporter's files folder): Neon's file store does not take their contents yet")
        for error in self.errors[:50]:
            lines.append(f"  error: {error}")
        if len(self.errors) > 50:
            lines.append(f"  … and {len(self.errors) - 50} more errors")
        return "\n".join(lines)


def _batches(run: Any, batch_rows: int) -> Iterator[tuple[Path, int, Any]]:
    """(file, first row in the file, batch) for every batch of a run, read ahead on a thread."""
    from neon.cli import exporter_layout as layout

    ahead: queue.Queue[tuple[Path, int, Any] | BaseException | None] = queue.Queue(maxsize=2)

    def read() -> None:
        try:
            for path in run.parts:
                offset = 0
                try:
                    for batch in layout.iter_batches(path, batch_rows):
                        ahead.put((path, offset, batch))
                        offset += batch.num_rows
                except Exception as exc:
                    ahead.put(layout.ImportFileError(path, f"row {offset}: cannot read: {exc}"))
                    return
            ahead.put(None)
        except BaseException as exc:  # pragma: no cover - surfaced to the reader below
            ahead.put(exc)

    threading.Thread(target=read, daemon=True, name="neon-import-read").start()
    while (item := ahead.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


class _Shared:
    """What the import threads share: progress and totals (under one lock), which runs exist, and a stop flag."""

    def __init__(self, runs: list[Any], progress: ImportProgress, totals: Totals) -> None:
        self.lock = threading.Lock()
        self.progress, self.totals = progress, totals
        self.created = {run.run_id: threading.Event() for run in runs}
        self.stop = threading.Event()


def _import_all(client: Any, runs: list[Any], batch_rows: int, jobs: int, *, progress: ImportProgress,
                totals: Totals) -> None:
    """Runs on `jobs` threads, each run's batches in order (so every series arrives step after step). Runs are
    taken in order, parents first; a fork starts once its parent's first batch (which creates it) is in."""
    from concurrent.futures import ThreadPoolExecutor

    shared = _Shared(runs, progress, totals)
    with ThreadPoolExecutor(jobs, thread_name_prefix="neon-import") as pool:
        futures = [pool.submit(_import_run, client, run, batch_rows, shared) for run in runs]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first


def _import_run(client: Any, run: Any, batch_rows: int, shared: _Shared) -> None:
    from neon.cli import exporter_layout as layout

    try:
        parent = shared.created.get(run.parent) if run.parent != run.run_id else None
        if parent is not None:
            parent.wait()  # the parent's task started earlier (tasks start in order) and sets it in any case
        for path, offset, batch in _batches(run, batch_rows):
            if shared.stop.is_set():
                return
            _send(client, path, offset, batch, shared)
            shared.created[run.run_id].set()
            with shared.lock:
                shared.progress.advance(rows=batch.num_rows)
    except layout.ImportFileError as exc:
        with shared.lock:
            shared.totals.errors.append(str(exc))
    except BaseException:
        shared.stop.set()
        raise
    finally:
        shared.created[run.run_id].set()
    with shared.lock:
        shared.progress.advance(runs=1)


def _send(client: Any, path: Path, offset: int, batch: Any, shared: _Shared) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    from neon.cli.exporter_layout import FILE_TYPES, ImportFileError
    from neon.client import NeonError

    body = _ipc(batch)
    if len(body) > MAX_REQUEST_BYTES and batch.num_rows > 1:  # too big for one request: halves
        half = batch.num_rows // 2
        _send(client, path, offset, batch.slice(0, half), shared)
        _send(client, path, offset + half, batch.slice(half), shared)
        return
    files = 0
    if "attribute_type" in batch.schema.names:
        files = int(pc.sum(pc.is_in(batch.column("attribute_type"), value_set=pa.array(FILE_TYPES))).as_py() or 0)
    try:
        answer = _post(client, body)
    except NeonError as exc:
        if exc.status_code != 422 or exc.details is None:
            raise
        answer = exc.details
        column = answer.get("column")
        if column and not answer.get("errors"):  # the file's shape, not a row: the rest of it is no better
            raise ImportFileError(path, exc.message) from None
    with shared.lock:
        totals = shared.totals
        totals.file_refs += files
        totals.add(answer)
        totals.errors += [f"{path}: row {offset + e['row']}, column {e['column']}: {e['message']}"
                          for e in answer.get("errors", [])]


def _post(client: Any, body: bytes, attempts: int = 8) -> dict[str, Any]:
    """One request, again while the server is busy (429) or unavailable (503): importing twice changes nothing."""
    from neon.client import NeonError

    for attempt in range(attempts):
        try:
            answer: dict[str, Any] = client.import_track_rows(body)
            return answer
        except NeonError as exc:
            if exc.status_code not in (429, 503) or attempt == attempts - 1:
                raise
            time.sleep(min(0.5 * 2**attempt, 10.0))
    raise AssertionError("unreachable")


def _ipc(batch: Any) -> bytes:
    import pyarrow as pa

    sink = io.BytesIO()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_stream(sink, batch.schema, options=options) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


class _StreamReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (an HTTP answer being streamed)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def cmd_export(args: argparse.Namespace) -> int:
    if not _has_pyarrow():
        return _fail(NEEDS_PYARROW.format(command="export"), EXIT_USAGE)
    import httpx
    import pyarrow as pa

    from neon.cli import exporter_layout as layout
    from neon.client import NeonClient, NeonError

    written: dict[str, list[Path]] = {}
    rows = 0
    try:
        with NeonClient(args.base_url, args.api_key, timeout=600) as client, \
                client.export_track(args.run or []) as response:
            if response.status_code >= 400:
                response.read()
                raise NeonError(response.status_code, _error_message(response))
            reader = pa.ipc.open_stream(io.BufferedReader(_StreamReader(response.iter_bytes())))
            writer: layout.RunWriter | None = None
            current = None
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                run_id, project = batch.column("run_id")[0].as_py(), batch.column("project_id")[0].as_py()
                if run_id != current:
                    if writer is not None and current is not None:
                        written[current] = writer.finish()
                    folder = args.path / layout.sanitize(project)
                    folder.mkdir(parents=True, exist_ok=True)
                    writer, current = layout.RunWriter(folder, run_id, reader.schema), run_id
                assert writer is not None
                writer.write(pa.Table.from_batches([batch]))
                rows += batch.num_rows
            if writer is not None and current is not None:
                written[current] = writer.finish()
    except NeonError as exc:
        return _fail(exc.message, EXIT_USAGE if 400 <= exc.status_code < 500 else EXIT_ERROR)
    except httpx.HTTPError as exc:
        return _fail(f"cannot reach the server: {exc}", EXIT_ERROR)
    print(f"exported {len(written)} run(s), {rows:,} rows into {args.path}")
    return 0


def _error_message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(response.text)
