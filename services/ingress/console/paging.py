"""The console's lists walk by the API's opaque cursors: `after` one for the older page, `before` one for the newer.

A bookmark with a page number (`page`, the contract's parameter) still opens that page; the links on it go on
by cursor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import Request

from services.ingress import cursors
from services.ingress.console.web import translate
from shared.i18n.problems import CODE_DETAILS
from shared.persistence.keyset import Page, Position, Window

AFTER = "after"
BEFORE = "before"
PAGE = "page"
MAX_PAGE = 1000
"""A page number reads past the rows before it (OFFSET): numbers beyond this open the newest page."""


@dataclass(frozen=True, slots=True)
class Pager:
    """The query strings of the links to the newer and the older page (None where there is none), filters kept."""

    newer: str | None
    older: str | None


def requested_window(request: Request, page_size: int) -> tuple[Window, str | None]:
    """The page a link asks for, and a notice when its cursor is not one we handed out (then: the newest page)."""
    after, before = (request.query_params.get(name, "") for name in (AFTER, BEFORE))
    try:
        if after and before:
            raise cursors.InvalidCursor("a page is after one cursor or before one, not both")
        if not after and not before:
            return Window(skip=(_page_number(request.query_params.get(PAGE, "")) - 1) * page_size), None
        return Window(after=_position(after), before=_position(before)), None
    except cursors.InvalidCursor:
        return Window(), translate(request, CODE_DETAILS["invalid_cursor"])


def _page_number(text: str) -> int:
    """A page number as bookmarked (1 for anything that is not a number from 1 to MAX_PAGE)."""
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_PAGE)) else 1
    return number if 1 <= number <= MAX_PAGE else 1


def _position(cursor: str) -> Position | None:
    return cursors.decode(cursor) if cursor else None


def pager(page: Page, query: Mapping[str, str]) -> Pager:
    return Pager(newer=_link(query, BEFORE, page.newer), older=_link(query, AFTER, page.older))


def _link(query: Mapping[str, str], direction: str, position: Position | None) -> str | None:
    return None if position is None else urlencode({**query, direction: cursors.encode(position)})
