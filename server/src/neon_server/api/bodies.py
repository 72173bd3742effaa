"""Reading request bodies within limits: size as sent, gzip, and size after decompression."""

from __future__ import annotations

import zlib

from fastapi import Request

from neon_server.services.errors import BadBody, BodyTooLarge, UnsupportedMediaType


async def read_body(request: Request, max_bytes: int, max_decompressed: int, *,
                    setting: str = "NEON_INGEST_MAX_BODY_BYTES",
                    decompressed_setting: str = "NEON_INGEST_MAX_DECOMPRESSED_BYTES") -> bytes:
    """The body, gunzipped; `setting` and `decompressed_setting` name the limits in messages."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"body of {declared} bytes is over the limit of {max_bytes} ({setting})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"body is over the limit of {max_bytes} bytes ({setting})")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}: send gzip or identity")
    return gunzip(body, max_decompressed, decompressed_setting)


def gunzip(body: bytes, limit: int, setting: str = "NEON_INGEST_MAX_DECOMPRESSED_BYTES") -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(body, limit)
        if decompressor.unconsumed_tail:
            raise BodyTooLarge(f"body is over {limit} bytes once decompressed ({setting})")
        out += decompressor.flush()
    except zlib.error as exc:
        raise BadBody(f"body is not valid gzip: {exc}") from None
    if not decompressor.eof:
        raise BadBody("gzip body is truncated")
    return out
