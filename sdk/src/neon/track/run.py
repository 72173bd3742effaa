"""`Run`: log a training run to Neon, shaped like neptune-scale's `Run`.

    from neon.track import Run

    with Run(experiment_name="resnet") as run:
        run.log_configs({"lr": 1e-3, "optimizer": {"name": "adam"}})
        for step in range(1000):
            run.log_metrics({"train/loss": loss, "train/acc": acc}, step=step)

Logging appends to columns under a lock and returns: a background thread takes the columns every
`flush_interval` seconds (or sooner when they are big), encodes them as native Track bodies, writes each to the
on-disk buffer and sends them in order, deleting each once the server acknowledged it durably. When the server is
down the bodies wait on disk and are retried with backoff; a later `Run` of the same run (or `neon track sync`)
sends what a finished process left behind. `close()` (or leaving the `with`) returns once everything is stored.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
import weakref
from array import array
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from neon.client import DEFAULT_BASE_URL
from neon.credentials import load_credentials
from neon.track._buffer import Session, buffer_root, leftover_sessions, run_key, write_run
from neon.track._format import Batch, encode
from neon.track._sender import Backoff, SessionSender
from neon.track._transport import Fatal, Transport
from neon.track.values import File, FileSource, config_value, file_ref, histogram_json

log = logging.getLogger("neon.track")
MAX_STEP = 1e15


class TrackError(RuntimeError):
    """Logging cannot go on (the server refused the credentials or the run); the buffer keeps what was logged."""


def _ms(timestamp: datetime | float | None) -> float:
    if timestamp is None:
        return time.time() * 1000
    if isinstance(timestamp, datetime):
        return timestamp.timestamp() * 1000
    return float(timestamp) * 1000  # epoch seconds, as time.time() gives


def _step(step: float | int) -> float:
    value = float(step)
    if not 0 <= value < MAX_STEP:  # NaN fails too
        raise ValueError(f"step must be a number from 0 to {MAX_STEP:g}, got {step!r}")
    return value


def _check_path(path: object) -> str:
    if not isinstance(path, str) or not path:
        raise ValueError(f"attribute paths are non-empty strings, got {path!r}")
    if len(path.encode()) > 1024:
        raise ValueError(f"attribute path {path[:60]!r}… is longer than 1024 bytes")
    return path


class Run:
    def __init__(self, run_id: str | None = None, experiment_name: str | None = None, *,
                 fork_run_id: str | None = None, fork_step: float | int | None = None, resume: bool = False,
                 project: str | None = None, api_key: str | None = None, base_url: str | None = None,
                 creation_time: datetime | None = None, buffer_dir: str | os.PathLike[str] | None = None,
                 flush_interval: float = 0.2, max_body_bytes: int = 16 * 2**20, compress: bool = False,
                 max_backoff: float = 5.0) -> None:
        saved = load_credentials()
        self.base_url = (base_url or os.environ.get("NEON_BASE_URL") or (saved.base_url if saved else None)
                         or DEFAULT_BASE_URL).rstrip("/")
        self.project = project or os.environ.get("NEON_PROJECT") or (saved.project if saved else "")
        key = api_key or os.environ.get("NEON_API_KEY") or (saved.api_key if saved else None)
        if (fork_run_id is None) != (fork_step is None):
            raise ValueError("fork_run_id and fork_step go together: give both or neither")
        if resume and fork_run_id is not None:
            raise ValueError("a resumed run keeps its lineage: give fork_run_id only when creating the run")
        self.run_id = run_id or f"run-{uuid.uuid4().hex[:12]}"
        if "/" in self.run_id or len(self.run_id.encode()) > 730:
            raise ValueError("run_id is at most 730 bytes, without '/'")
        spec: dict[str, Any] = {"run_id": self.run_id, "base_url": self.base_url, "project": self.project,
                                "resume": resume}
        if not resume:
            spec.update(experiment_name=experiment_name or "", creation_time_ms=_ms(creation_time),
                        fork_run_id=fork_run_id, fork_step=None if fork_step is None else _step(fork_step))
        self.buffer_dir = buffer_root(buffer_dir) / run_key(self.base_url, self.project, self.run_id)
        self._session = Session.create(self.buffer_dir)
        write_run(self._session.folder, spec)
        self._flush_interval = flush_interval
        self._max_body_bytes = max_body_bytes
        self._wake_points = max_body_bytes // 12
        self._lock = threading.Lock()
        self._batch = Batch()
        self._points = 0
        self._wake = threading.Event()
        self._acked = threading.Condition()
        self._taken = 0  # batches taken from the columns
        self._done = 0  # batches whose every item was acknowledged (or refused)
        self._inflight: deque[tuple[int, int]] = deque()  # (last item seq, batch number)
        self._closing = False
        self._closed = False
        self._fatal: Exception | None = None
        self._transport = Transport(self.base_url, key, compress=compress)
        self._sender = SessionSender(self._transport, Backoff(maximum=max_backoff))
        self._thread = threading.Thread(target=self._work, name=f"neon-track-{self.run_id}", daemon=True)
        self._thread.start()
        atexit.register(_spool_at_exit, weakref.ref(self))

    # ------------------------------------------------------------------ logging (the caller's thread)
    def log_metrics(self, data: Mapping[str, float | int], step: float | int,
                    timestamp: datetime | float | None = None, preview: bool = False,
                    preview_completion: float | None = None) -> None:
        """Float points, one per path, at `step` (NaN and ±Inf are kept). Re-logging a step replaces it."""
        at, when = _step(step), _ms(timestamp)
        values = list(data.values())
        if not values:
            return
        if self._closing:
            raise TrackError(f"run {self.run_id!r} is closed")
        keys = tuple(data)
        ratio = 1.0 if not preview else 0.0 if preview_completion is None else float(preview_completion)
        with self._lock:
            b = self._batch
            codes = b.codes_of.get(keys)
            if codes is None:
                codes = self._codes(b, keys)
            try:
                b.value.fromlist(values)  # all or nothing
            except (TypeError, OverflowError):
                bad = next(k for k, v in data.items() if not isinstance(v, int | float))
                raise TypeError(f"log_metrics: the value of {bad!r} is not a number: {data[bad]!r}") from None
            b.code.extend(codes)
            b.step.append(at)
            b.time_ms.append(when)
            b.count.append(len(values))
            b.ratio.append(ratio)
            b.preview.append(1 if preview else 0)
            self._points += len(values)
            if self._points > self._wake_points:
                self._wake.set()

    @staticmethod
    def _codes(batch: Batch, keys: tuple[str, ...]) -> array:  # type: ignore[type-arg]
        """The path codes of these keys in this batch (new paths checked and added), cached for the next call."""
        index = batch.index
        for path in keys:
            if path not in index:
                index[_check_path(path)] = len(batch.paths)
                batch.paths.append(path)
        codes = array(batch.code.typecode, [index[k] for k in keys])
        if len(batch.codes_of) < 1024:
            batch.codes_of[keys] = codes
        return codes

    def log_configs(self, data: Mapping[str, Any], flatten: bool = True, cast_unsupported: bool = False) -> None:
        """Attributes (float, int, bool, str, datetime, a list/set/tuple of str as a string set). Nested dicts
        become `a/b` paths when `flatten`; other types are refused, or logged as `str` with `cast_unsupported`."""
        when = _ms(None)
        rows = [[_check_path(path), config_value(path, value, cast_unsupported), when]
                for path, value in _flat(data, flatten)]
        self._add("assign", rows)

    def log_string_series(self, data: Mapping[str, str], step: float | int,
                          timestamp: datetime | float | None = None) -> None:
        at, when = _step(step), _ms(timestamp)
        rows = []
        for path, value in data.items():
            if not isinstance(value, str):
                raise TypeError(f"log_string_series: the value of {path!r} is not a string")
            rows.append([_check_path(path), at, when, value, False, 1.0])
        self._add("strings", rows)

    def log_histograms(self, histograms: Mapping[str, Any], step: float | int,
                       timestamp: datetime | float | None = None) -> None:
        """`neon.track.Histogram` (or neptune-scale's) values, one per path, at `step`."""
        at, when = _step(step), _ms(timestamp)
        self._add("histograms", [[_check_path(p), at, when, histogram_json(p, h), False, 1.0]
                                 for p, h in histograms.items()])

    def add_tags(self, tags: Iterable[str], group_tags: bool = False) -> None:
        self._tags(tags, group_tags, add=True)

    def remove_tags(self, tags: Iterable[str], group_tags: bool = False) -> None:
        self._tags(tags, group_tags, add=False)

    def _tags(self, tags: Iterable[str], group_tags: bool, *, add: bool) -> None:
        if isinstance(tags, str):
            tags = [tags]
        path = "sys/group_tags" if group_tags else "sys/tags"
        rows = []
        for tag in tags:
            if not isinstance(tag, str):
                raise TypeError(f"tags are strings, got {tag!r}")
            rows.append([path, tag, add])
        self._add("tags", rows)

    def assign_files(self, files: Mapping[str, FileSource]) -> None:
        """File attributes: a path on disk, bytes, or `File(source, mime_type=…, destination=…)`. The bytes are
        copied into the buffer now and uploaded before the reference is written."""
        when = _ms(None)
        self._add("assign", [[_check_path(p), {"$file": self._file(p, f, None)}, when] for p, f in files.items()])

    def log_files(self, files: Mapping[str, FileSource], step: float | int,
                  timestamp: datetime | float | None = None) -> None:
        at, when = _step(step), _ms(timestamp)
        self._add("files", [[_check_path(p), at, when, self._file(p, f, at), False, 1.0] for p, f in files.items()])

    def _file(self, path: str, source: FileSource, step: float | None) -> dict[str, Any]:
        spec = source if isinstance(source, File) else File(source)
        ref, data = file_ref(self.run_id, path, step, spec)
        staged = self._session.stage_file(data)  # the copy, outside the lock: logging goes on meanwhile
        with self._lock:
            self._session.commit_file(self._session.next_seq(), staged, ref["path"], ref["mime"])
        return ref

    def _add(self, key: str, rows: list[list[Any]]) -> None:
        if self._closing:
            raise TrackError(f"run {self.run_id!r} is closed")
        with self._lock:
            getattr(self._batch, key).extend(rows)

    # ------------------------------------------------------------------ durability
    def wait_for_submission(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is stored on the server (True), or `timeout` passes (False)."""
        with self._lock:
            target = self._taken + (1 if self._batch else 0)
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._acked:
            while self._done < target and self._fatal is None and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._acked.wait(left if left is not None else 1.0)
        if self._fatal is not None:
            raise TrackError(f"{self._fatal}; what was not sent is kept in {self.buffer_dir}") from self._fatal
        return self._done >= target

    def close(self, timeout: float | None = None) -> bool:
        """Send everything and stop; True once the server acknowledged all of it. Left in the buffer otherwise."""
        if self._closed:
            return True
        try:
            done = self.wait_for_submission(timeout)
        finally:
            self._closing = True
            self._wake.set()
            self._thread.join(5)
            self._take()  # anything logged but not yet taken goes to the buffer, not away
            self._closed = True
            self._session.close()
            self._transport.close()
        return done

    def wait_for_processing(self, timeout: float | None = None) -> bool:
        """neptune-scale's name for it: here an acknowledged batch is a stored one, so it is the same wait."""
        return self.wait_for_submission(timeout)

    def terminate(self) -> None:
        """Stop now without waiting for the server: what was logged and not yet acknowledged is written to the
        buffer, for the next `Run` of this run or `neon track sync`."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        self._thread.join(5)
        self._take()
        self._closed = True
        self._session.close()
        self._transport.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ the background thread
    def _take(self) -> None:
        """Encode what was logged and write it to the buffer (the columns are swapped under the lock)."""
        with self._lock:
            batch = self._batch
            if not batch:
                return
            self._batch = Batch()
            self._points = 0
            self._taken += 1
            number = self._taken
        for body in encode(self.run_id, batch, self._max_body_bytes):
            with self._lock:
                seq = self._session.next_seq()
            self._session.write_body(seq, body)
        self._inflight.append((seq, number))

    def _acknowledged(self, item: Path) -> None:
        seq = int(item.stem) if item.parent == self._session.folder else 0
        done = None
        while seq and self._inflight and self._inflight[0][0] <= seq:
            done = self._inflight.popleft()[1]
        if done is not None:
            with self._acked:
                self._done = done
                self._acked.notify_all()
        if self._wake.is_set() or self._points > self._wake_points:
            self._wake.clear()
            self._take()

    def _work(self) -> None:
        sessions = [*leftover_sessions(self.buffer_dir.parent / self.buffer_dir.name, own=self._session.folder),
                    self._session]
        last_take = time.monotonic()
        try:
            while True:
                backoff = self._sender.backoff.waiting
                self._wake.wait(min(self._flush_interval, backoff) if backoff else self._flush_interval)
                if self._closing:
                    return
                if self._wake.is_set() or time.monotonic() - last_take >= self._flush_interval:
                    self._wake.clear()
                    self._take()
                    last_take = time.monotonic()
                if self._sender.backoff.waiting:
                    continue
                while sessions:
                    if not self._sender.drain(sessions[0], after_each=self._acknowledged,
                                              stop=lambda: self._closing):
                        break
                    if sessions[0] is self._session:
                        break
                    sessions.pop(0).close()
        except Fatal as exc:
            log.error("neon.track: %s; logging stops, what was logged is kept in %s", exc, self.buffer_dir)
            self._fatal = exc
        except Exception as exc:
            log.exception("neon.track: the sender failed")
            self._fatal = exc
        finally:
            with self._acked:
                self._acked.notify_all()

    def _spool_at_exit(self) -> None:
        """At interpreter exit without close(): keep what was logged in the buffer for a later sync."""
        if not self._closed and self._fatal is None and self._thread.is_alive():
            self._closing = True
            self._thread.join(5)
            self._take()


def _spool_at_exit(ref: weakref.ref[Run]) -> None:
    run = ref()
    if run is not None:
        run._spool_at_exit()


def _flat(data: Mapping[str, Any], flatten: bool, prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if flatten and isinstance(value, Mapping):
            yield from _flat(value, flatten, f"{path}/")
        else:
            yield path, value
