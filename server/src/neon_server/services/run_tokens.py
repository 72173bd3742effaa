"""Run tokens: what workers present to write one project's run data (spans, agent blobs, run stream events).

A token is `neon_rt_<project_id>.<signature>`, the signature being base64url(HMAC-SHA256(secret, project id)).
It carries no expiry and is not stored: the server recognises its own signature. It travels in the workflow
input (so it sits in Temporal history), which is why it grants so little: the routes that accept it are
listed in `api/deps.py`, and every other route refuses it.

The secret is `NEON_SECRET_KEY` when set (a distributed deployment sets the same value on every API
process), else 32 random bytes created once in `$NEON_HOME/secret` (mode 0600) and reused at every start.
Changing the secret invalidates every token issued with the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
from pathlib import Path

from neon_server.services.errors import Unauthorized
from neon_server.storage.blobs import fsync_dir

log = logging.getLogger("neon.run_tokens")

RUN_TOKEN_PREFIX = "neon_rt_"  # noqa: S105 - a prefix, not a secret
SECRET_FILE = "secret"  # noqa: S105 - a file name
SECRET_BYTES = 32
# Domain separation: the same secret may sign other things later without a signature being reusable here.
SIGNING_CONTEXT = b"neon-run-token:v1:"
PROJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SIGNATURE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url without padding
MALFORMED = (f"malformed run token: expected '{RUN_TOKEN_PREFIX}<project id>.<signature>' "
             "as issued by the Neon server that started the run")


def is_run_token(credential: str) -> bool:
    return credential.startswith(RUN_TOKEN_PREFIX)


class RunTokens:
    """Issues and verifies run tokens with one secret."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < SECRET_BYTES:
            raise ValueError(f"the run token secret must be at least {SECRET_BYTES} bytes")
        self._secret = secret

    def issue(self, project_id: str) -> str:
        """A token that lets a worker write `project_id`'s run data."""
        if not PROJECT_ID.match(project_id):
            raise ValueError(f"cannot issue a run token for project id {project_id!r}")
        return f"{RUN_TOKEN_PREFIX}{project_id}.{self._sign(project_id)}"

    def verify(self, token: str) -> str:
        """The project a token was issued for; raises Unauthorized saying what was wrong."""
        if not is_run_token(token):
            raise Unauthorized(MALFORMED)
        project_id, dot, signature = token[len(RUN_TOKEN_PREFIX):].rpartition(".")
        if not dot or not PROJECT_ID.match(project_id) or not SIGNATURE.match(signature):
            raise Unauthorized(MALFORMED)
        if not hmac.compare_digest(signature.encode(), self._sign(project_id).encode()):
            raise Unauthorized(
                f"run token for project {project_id} has an invalid signature: it was altered, or issued by a "
                "server with another secret (NEON_SECRET_KEY or $NEON_HOME/secret)"
            )
        return project_id

    def _sign(self, project_id: str) -> str:
        digest = hmac.new(self._secret, SIGNING_CONTEXT + project_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_secret(secret_key: str | None, home: Path) -> bytes:
    """`secret_key` (NEON_SECRET_KEY) when given, else the secret in `home/secret`, created on first use."""
    if secret_key:
        return secret_key.encode()
    return _home_secret(home / SECRET_FILE)


def _home_secret(path: Path) -> bytes:
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write the whole secret to a private temporary file, then link it into place: the link fails if
    # another process got there first (we then use theirs), and a crash never leaves a half-written secret.
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(SECRET_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        else:
            fsync_dir(path.parent)
            log.info("created the run token secret %s", path)
    finally:
        temp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    text = path.read_text().strip()
    if len(text) != 2 * SECRET_BYTES or not re.fullmatch(r"[0-9a-f]+", text):
        raise ValueError(f"{path} does not hold a secret ({2 * SECRET_BYTES} hex characters): "
                         "delete it to create a new one (run tokens issued with it stop working)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s can be read by other users (mode %o): chmod 600 it", path, mode)
    return bytes.fromhex(text)
