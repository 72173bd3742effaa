"""`neon.track` on its own: light to import, and its buffer's sessions belong to one living process at a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from neon.track._buffer import Session, leftover_sessions


def test_neon_track_imports_nothing_heavy() -> None:
    code = ("import sys, neon.track; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'neon_server', 'numpy', 'pyarrow', 'fastapi', 'pandas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_session_is_adopted_only_once_its_process_let_go(tmp_path: Path) -> None:
    live = Session.create(tmp_path / "run")
    live.write_body(live.next_seq(), b"body")
    assert leftover_sessions(tmp_path / "run") == []  # held by this (living) writer
    live.close()  # not empty: kept, and now free
    (adopted,) = leftover_sessions(tmp_path / "run")
    assert [p.name for p in adopted.items()] == ["000000000001.ntrk"]
    assert adopted.next_seq() == 2  # a later writer numbers on
    assert leftover_sessions(tmp_path / "run") == []  # and holds it while it sends
    Session.remove(adopted.items()[0])
    adopted.close()
    assert not adopted.folder.exists()  # emptied sessions go away


def test_a_staged_file_becomes_an_item_only_when_committed(tmp_path: Path) -> None:
    session = Session.create(tmp_path / "run")
    staged = session.stage_file(b"bytes")
    assert session.items() == []
    meta = session.commit_file(session.next_seq(), staged, "k/f.bin", "application/octet-stream")
    assert session.items() == [meta]
    assert meta.with_suffix(".bin").read_bytes() == b"bytes"
    session.close()
