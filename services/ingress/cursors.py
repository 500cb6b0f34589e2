"""Opaque list cursors: a keyset position on the wire, checked so that a damaged or edited one is refused."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
import uuid
from datetime import UTC, datetime, timedelta

from shared.persistence.keyset import Position

VERSION = 1
_LAYOUT = struct.Struct(">Bq16s")  # version, created_at in microseconds since the epoch, id
_DIGEST_SIZE = 8  # 25 + 8 bytes: a multiple of 3, so every character of the cursor carries checked bits
_ALPHABET = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The check needs no secret: a cursor is only a position, and every page is filtered by the caller's tenant.
_PERSON = b"billing-cursor"
MAX_LENGTH = 64


class InvalidCursor(ValueError):
    """A cursor this service did not hand out, or one changed since."""


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=_DIGEST_SIZE, person=_PERSON).digest()


def encode(position: Position) -> str:
    micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
    body = _LAYOUT.pack(VERSION, micros, position.id.bytes)
    return base64.urlsafe_b64encode(body + _digest(body)).rstrip(b"=").decode("ascii")


def decode(cursor: str) -> Position:
    if len(cursor) > MAX_LENGTH or not _ALPHABET.fullmatch(cursor):
        raise InvalidCursor("not a cursor from this service")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor("not a cursor from this service") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != cursor:
        raise InvalidCursor("not a cursor from this service")
    body, digest = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    if len(body) != _LAYOUT.size or not hmac.compare_digest(digest, _digest(body)):
        raise InvalidCursor("not a cursor from this service, or changed since")
    version, micros, id_bytes = _LAYOUT.unpack(body)
    if version != VERSION:
        raise InvalidCursor(f"cursor version {version} is not understood; start again with cursor=")
    try:
        created_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise InvalidCursor("the cursor's time is out of range") from None
    return Position(created_at, uuid.UUID(bytes=id_bytes))
