from typing import Any

Span = tuple[bytes, bytes, bytes, str, int, int, int, int, str, list[tuple[str, Any]], bytes | None]
Scope = tuple[str, list[Span]]
Resource = tuple[list[tuple[str, Any]], list[Scope]]

class MalformedBody(ValueError): ...

def walk(body: bytes) -> list[Resource]: ...
