"""What PostgreSQL can hold, checked where input arrives: no NUL in any string, bounded JSON documents.

A NUL (U+0000) is refused by `text` and `jsonb` alike; found only at the INSERT, it made an accepted command
fail five times and park. `metadata` and `details` are stored with every transaction and copied into every
event, so their size is capped too.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic_core import PydanticCustomError

METADATA_MAX_BYTES = 16 * 1024
"""`metadata` as compact UTF-8 JSON: the caller's own notes (project and stage ids, references)."""
T = TypeVar("T")

DETAILS_MAX_BYTES = 64 * 1024
"""`details` as compact UTF-8 JSON: a gateway's typed fields, a fiscal receipt's items."""


def nul_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding a NUL inside `value`, or None when there is none."""
    if isinstance(value, str):
        return path or "." if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return inner
            found = nul_at(item, inner)
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def refuse_nul(value: Any) -> Any:
    """A validator: `value` unchanged, or a validation error naming where the NUL is."""
    where = nul_at(value)
    if where is not None:
        inner = "" if where == "." else f" (at {where})"
        raise PydanticCustomError("nul_character", "a NUL character (\\u0000) cannot be stored" + inner)
    return value


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def capped(value: T, limit: int) -> T:
    """A validator: `value` unchanged, or a validation error when its JSON is larger than `limit` bytes."""
    if not value:
        return value  # `{}`, `[]` or `""`: a few bytes whatever the limit
    size = json_size(value)
    if size > limit:
        raise PydanticCustomError(
            "too_large", "at most {limit} bytes as JSON, this is {size}", {"limit": limit, "size": size}
        )
    return value
