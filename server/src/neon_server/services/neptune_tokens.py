"""The tokens Neptune's clients hold: JWTs that Neon signs (HS256) and verifies on every request.

neptune-scale and neptune-query exchange their `NEPTUNE_API_TOKEN` (which carries a Neon API key) for an access
token and a refresh token, then send `Authorization: Bearer <access token>` on every call. The clients read
`exp`, `iss` and `azp` without verifying anything; Neon verifies the signature, the expiry, the issuer's path,
the authorized party and the token's kind, and takes the project from `sub`.

- Access tokens live `neptune_token_seconds` (1 h by default): the clients refresh 30 s before `exp`, so a shorter
  life only costs a refresh. A revoked key's access tokens stay valid until they expire; refreshing checks the
  key again, so a revoked key gets no new token.
- Refresh tokens live `neptune_refresh_seconds` (30 days by default).
- The signing key is derived from the server's secret (`NEON_SECRET_KEY` or `$NEON_HOME/secret`) with its own
  context, so it signs nothing else; changing the secret invalidates every token (the clients then get 401,
  refresh, fail, and exchange their API key again).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from neon_server.domain.projects import Principal
from neon_server.services.errors import Unauthorized

ALGORITHM = "HS256"
CLIENT_ID = "neptune-cli"  # what the clients send back as `client_id` / `azp`
ISSUER_PATH = "/api/neptune/oauth"  # the issuer is <Neon's URL> + this; neptune-query refreshes under it
SIGNING_CONTEXT = b"neon-neptune-jwt:v1"
TokenKind = Literal["access", "refresh"]


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


class NeptuneTokens:
    def __init__(self, secret: bytes, *, access_seconds: float = 3600, refresh_seconds: float = 30 * 86_400,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = hmac.new(secret, SIGNING_CONTEXT, hashlib.sha256).digest()
        self._access_seconds = access_seconds
        self._refresh_seconds = refresh_seconds
        self._clock = clock

    def issue(self, principal: Principal, base_url: str) -> TokenPair:
        """An access and a refresh token for a verified API key's project; `base_url` is Neon's URL as the
        client reaches it (it becomes the issuer)."""
        issuer = base_url.rstrip("/") + ISSUER_PATH
        return TokenPair(self._sign(principal, issuer, "access", self._access_seconds),
                         self._sign(principal, issuer, "refresh", self._refresh_seconds))

    def verify(self, token: str, kind: TokenKind = "access") -> Principal:
        """The project and key a token was issued for; raises Unauthorized saying what was wrong."""
        try:
            # Expiry is checked below against this service's clock.
            claims: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "iss", "sub", "azp"], "verify_exp": False, "verify_iat": False})
        except jwt.InvalidSignatureError:
            raise Unauthorized(f"Neptune {kind} token has an invalid signature: it was altered, or issued by a "
                               "server with another secret (NEON_SECRET_KEY or $NEON_HOME/secret)") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid Neptune {kind} token: {exc}") from None
        if not isinstance(claims["exp"], int) or claims["exp"] <= self._clock():
            raise Unauthorized(f"Neptune {kind} token expired: the client refreshes it before it expires; "
                               "check the clocks of this machine and the client's")
        if claims.get("typ") != kind:
            raise Unauthorized(f"a Neptune {claims.get('typ', 'unknown')} token was sent where a {kind} token "
                               "is needed")
        if claims["azp"] != CLIENT_ID or not str(claims["iss"]).endswith(ISSUER_PATH):
            raise Unauthorized(f"Neptune {kind} token was not issued by Neon")
        return Principal(project_id=str(claims["sub"]), key_id=str(claims.get("key", "")),
                         key_prefix=str(claims.get("prefix", "")))

    def _sign(self, principal: Principal, issuer: str, kind: TokenKind, seconds: float) -> str:
        now = int(self._clock())
        claims = {"iss": issuer, "azp": CLIENT_ID, "sub": principal.project_id, "typ": kind,
                  "key": principal.key_id, "prefix": principal.key_prefix, "iat": now, "exp": now + int(seconds),
                  "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)
