"""Newest-first keyset pages: where a walk stopped, and the statement that reads on from there in either direction.

A page reads its rows and one more through an index on (tenant_id[, status], created_at DESC, id DESC): no OFFSET
and no count, so it costs the same however many rows the tenant has.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Select, Table, UnaryExpression, literal, tuple_


@dataclass(frozen=True, slots=True)
class Position:
    """Where a newest-first walk stopped: the last row it answered, by the order it walks in."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Window:
    """The page to read: the rows older than `after`, or newer than `before`, or the newest when neither is set
    (skipping `skip` of them: a page asked for by its number, which costs what it skips)."""

    after: Position | None = None
    before: Position | None = None
    skip: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """Items newest first, and where the newer and the older page start (None when there is none that way)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    newer: Position | None = None
    older: Position | None = None


def position_of(row: RowMapping) -> Position:
    return Position(row["created_at"], row["id"])


def newest_first(table: Table) -> tuple[UnaryExpression[Any], UnaryExpression[Any]]:
    return table.c.created_at.desc(), table.c.id.desc()


def oldest_first(table: Table) -> tuple[UnaryExpression[Any], UnaryExpression[Any]]:
    return table.c.created_at.asc(), table.c.id.asc()


def _key(table: Table) -> ColumnElement[Any]:
    return tuple_(table.c.created_at, table.c.id)


def _at(table: Table, position: Position) -> ColumnElement[Any]:
    return tuple_(literal(position.created_at, table.c.created_at.type), literal(position.id, table.c.id.type))


def older_than(table: Table, position: Position) -> ColumnElement[bool]:
    return _key(table) < _at(table, position)


def newer_than(table: Table, position: Position) -> ColumnElement[bool]:
    return _key(table) > _at(table, position)


def window_statement(query: Select[Any], table: Table, window: Window, page_size: int) -> Select[Any]:
    """`query` narrowed to the window and ordered the way it walks, reading one row more than the page: that row
    only tells whether the walk goes on."""
    if window.before is not None:
        return query.where(newer_than(table, window.before)).order_by(*oldest_first(table)).limit(page_size + 1)
    if window.after is not None:
        query = query.where(older_than(table, window.after))
    return query.order_by(*newest_first(table)).offset(window.skip or None).limit(page_size + 1)


def page_of(
    rows: Sequence[RowMapping], window: Window, page_size: int, view: Callable[[RowMapping], dict[str, Any]]
) -> Page:
    """What `window_statement` read, as a page newest first with the positions its neighbours start from."""
    shown = list(rows[:page_size])
    goes_on = len(rows) > page_size
    walking_back = window.before is not None
    if walking_back:
        shown.reverse()
    if not shown:
        return Page()
    has_newer = goes_on if walking_back else window.after is not None or window.skip > 0
    has_older = walking_back or goes_on
    return Page(
        [view(row) for row in shown],
        newer=position_of(shown[0]) if has_newer else None,
        older=position_of(shown[-1]) if has_older else None,
    )
