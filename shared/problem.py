"""An HTTP refusal answered as application/problem+json (RFC 9457), raised by the ingress and gateway webhooks."""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    def __init__(self, status: int, code: str, detail: str, *, show_instance: bool = True, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.show_instance = show_instance
        """False: no `instance` (the path), so answers for different URLs are the same bytes."""
        self.extra = extra
