"""Damaged OTLP bodies for the property tests of the C reader (flipped, cut or inserted bytes)."""

from __future__ import annotations

from hypothesis import strategies as st


def damaged(body: bytes, data: st.DataObject, most_edits: int) -> bytes:
    """`body` with 1 to `most_edits` bytes flipped, cut at or inserted, drawn from `data`."""
    out = bytearray(body)
    for _ in range(data.draw(st.integers(1, most_edits))):
        at = data.draw(st.integers(0, len(out)))
        match data.draw(st.sampled_from(["flip", "cut", "insert"])):
            case "flip" if at < len(out):
                out[at] ^= 1 << data.draw(st.integers(0, 7))
            case "cut":
                del out[at:]
            case _:
                out[at:at] = data.draw(st.binary(min_size=1, max_size=3))
    return bytes(out)
