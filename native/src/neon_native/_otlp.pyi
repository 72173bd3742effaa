from typing import Any

Span = tuple[bytes, bytes, bytes, str, int, int, int, int, str, list[tuple[str, Any]], bytes | None]
Scope = tuple[str, list[Span]]
Resource = tuple[list[tuple[str, Any]], list[Scope]]
# column name -> bytes, (offsets, data), (validity, data) or (offsets, (offsets, data), (offsets, data))
Columns = dict[str, Any]
Rest = list[tuple[list[tuple[str, Any]], str, Span]]

class MalformedBody(ValueError): ...

def walk(body: bytes) -> list[Resource]: ...
def map(body: bytes, max_attribute_bytes: int, max_payload_bytes: int, now_ns: int, /
        ) -> tuple[Columns, int, Columns, int, int, list[str], Rest]: ...
def map_tables() -> dict[str, Any]: ...
