"""A fake of the Central Bank of Uzbekistan's rate archive: a real HTTP server on 127.0.0.1 serving its JSON.

`GET /uz/arkhiv-kursov-valyut/json/all/<YYYY-MM-DD>/` answers the list set for that date, in CBU's shape
(strings for `Rate` and `Nominal`, `Date` as DD.MM.YYYY); a date without a list gets CBU's empty array.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.fakes.local_server import LocalServer

_ROUTE = re.compile(r"^/uz/arkhiv-kursov-valyut/json/all/(\d{4}-\d{2}-\d{2})/$")
NAMES = {"USD": "US Dollar", "EUR": "Euro", "KRW": "Korean Won", "JPY": "Japan Yen", "KWD": "Kuwaiti Dinar"}


def cbu_entry(code: str, rate: str, nominal: int, day: date) -> dict[str, Any]:
    return {
        "id": 1,
        "Code": "000",
        "Ccy": code,
        "CcyNm_RU": NAMES.get(code, code),
        "CcyNm_UZ": NAMES.get(code, code),
        "CcyNm_UZC": NAMES.get(code, code),
        "CcyNm_EN": NAMES.get(code, code),
        "Nominal": str(nominal),
        "Rate": rate,
        "Diff": "0",
        "Date": day.strftime("%d.%m.%Y"),
    }


@dataclass
class CbuFake:
    lists: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    """HTTP statuses to answer, one per request, before answering normally again."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LocalServer | None = None

    @property
    def url(self) -> str:
        """BILLING_RATES_URL for this fake."""
        assert self._server is not None, "start() the fake first"
        return f"{self._server.url}/uz/arkhiv-kursov-valyut/json/all/{{date}}/"

    def publish(self, day: date, rates: dict[str, tuple[str, int]]) -> None:
        with self._lock:
            self.lists[day] = [cbu_entry(code, rate, nominal, day) for code, (rate, nominal) in rates.items()]

    def answer(self, path: str) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(path)
            if self.failures:
                return self.failures.pop(0), {"error": "unavailable"}
            found = _ROUTE.match(path)
            if found is None:
                return 404, {"error": "not found"}
            return 200, self.lists.get(date.fromisoformat(found.group(1)), [])

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = fake.answer(self.path)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = LocalServer(Handler)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
