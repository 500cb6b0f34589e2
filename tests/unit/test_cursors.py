"""List cursors: a position survives the round trip exactly, and any change to one is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.ingress import cursors
from shared.persistence.keyset import Position

POSITION = Position(datetime(2026, 12, 3, 9, 15, 2, 123456, tzinfo=UTC), uuid.UUID(int=0xFEDCBA9876543210 << 64 | 42))


def test_a_position_round_trips_to_the_microsecond() -> None:
    cursor = cursors.encode(POSITION)
    assert cursors.decode(cursor) == POSITION
    assert cursor.isascii() and "=" not in cursor and len(cursor) <= cursors.MAX_LENGTH


def test_changing_any_character_is_refused() -> None:
    cursor = cursors.encode(POSITION)
    for index, original in enumerate(cursor):
        for replacement in "AQgw_-9z":
            if replacement == original:
                continue
            with pytest.raises(cursors.InvalidCursor):
                cursors.decode(cursor[:index] + replacement + cursor[index + 1 :])


@pytest.mark.parametrize("cursor", ["", "x", "====", "é" * 44, "A" * 44, "A" * 65, "a.b"])
def test_what_was_never_a_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(cursors.InvalidCursor):
        cursors.decode(cursor)
