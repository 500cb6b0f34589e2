"""A fake Octo: a real HTTP server on 127.0.0.1 speaking prepare_payment, refund and set_accept.

It keeps its own state like Octo would (idempotent on shop_transaction_id and shop_refund_id), records every
request, can answer 503 for a while or hold an answer back, and sends signed notifies to the notify_url it was
given. It signs with its own SHA-1 code, so the service's signature function is checked, not reused.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx

from tests.support.fakes.local_server import LocalServer


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    answered: int = 0  # HTTP status, 0 while the answer is held back


@dataclass
class Payment:
    uuid: str
    shop_transaction_id: str
    status: str
    total_sum: Decimal
    currency: str
    notify_url: str
    pay_url: str
    auto_capture: bool
    refunded_sum: Decimal = Decimal(0)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {
            "shop_transaction_id": self.shop_transaction_id,
            "octo_payment_UUID": self.uuid,
            "status": self.status,
            "octo_pay_url": self.pay_url,
            "total_sum": self.total_sum,
            "refunded_sum": self.refunded_sum,
        }


class FakeOcto:
    def __init__(self) -> None:
        # Fresh credentials per fake: a test can only reach the fake its own account points at.
        self.shop_id = uuid.uuid4().int % 1_000_000 + 1
        self.secret = f"octo-secret-{uuid.uuid4().hex}"
        self.unique_key = f"octo-unique-{uuid.uuid4().hex}"
        self.legacy_answers = False  # older Octo: the payment's fields at the top level, no `data`
        self.payments: dict[str, Payment] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._failures: tuple[int, int] = (0, 503)
        self._prepare_delay_s = 0.0
        self._lost: set[str] = set()
        self._http = LocalServer(_handler(self))

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> FakeOcto:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def account_config(self, **options: Any) -> dict[str, Any]:
        """An Octo gateway account's config pointing at this fake."""
        return {
            "shop_id": self.shop_id,
            "secret": self.secret,
            "unique_key": self.unique_key,
            "api_base": self.url,
            **options,
        }

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures = (count, status)

    def hold_next_prepare(self, seconds: float) -> None:
        """The next prepare_payment creates the payment, then waits this long before answering."""
        with self._lock:
            self._prepare_delay_s = seconds

    def calls(self, path: str, **match: Any) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path and all(r.body.get(k) == v for k, v in match.items())]

    def payment(self, shop_transaction_id: str) -> Payment:
        with self._lock:
            return self.payments[shop_transaction_id]

    def set_status(self, shop_transaction_id: str, status: str) -> Payment:
        """What the customer did on Octo's page (or what Octo decided)."""
        with self._lock:
            payment = self.payments[shop_transaction_id]
            payment.status = status
            return payment

    def set_sums(
        self, shop_transaction_id: str, total_sum: Decimal | None = None, refunded_sum: Decimal | None = None
    ) -> Payment:
        """What Octo's books say the payment took and gave back (e.g. a refund made in Octo's cabinet)."""
        with self._lock:
            payment = self.payments[shop_transaction_id]
            if total_sum is not None:
                payment.total_sum = total_sum
            if refunded_sum is not None:
                payment.refunded_sum = refunded_sum
            return payment

    def lose(self, shop_transaction_id: str) -> None:
        """Octo no longer shows this payment: prepare_payment with its ids is refused (error 4)."""
        with self._lock:
            self._lost.add(shop_transaction_id)

    def sign(self, payment_uuid: str, status: str) -> str:
        return hashlib.sha1((self.unique_key + payment_uuid + status).encode()).hexdigest().upper()

    async def notify(
        self, shop_transaction_id: str, status: str | None = None, *, signature: str | None = None, **extra: Any
    ) -> httpx.Response:
        """POST Octo's notify for a payment to the notify_url it was created with (status defaults to its own)."""
        payment = self.payment(shop_transaction_id)
        status = status or payment.status
        body: dict[str, Any] = {
            "shop_transaction_id": shop_transaction_id,
            "octo_payment_UUID": payment.uuid,
            "status": status,
            "signature": self.sign(payment.uuid, status) if signature is None else signature,
            "hash_key": uuid.uuid4().hex,
            "total_sum": payment.total_sum,
            "transfer_sum": (payment.total_sum * 98 / 100).quantize(Decimal("0.01")),  # less Octo's fee
            "refunded_sum": payment.refunded_sum,
            "card_country": "UZ",
            "maskedPan": "860049******6478",
            "rrn": "512345678901",
            "riskLevel": 1,
            "payed_time": "2025-05-28 12:00:05",
            "card_type": "uzcard",
            "is_physical_card": True,
            "card_vendor": "Uzcard",
            "currency": payment.currency,
            **extra,
        }
        async with httpx.AsyncClient(timeout=20) as client:
            return await client.post(
                payment.notify_url, content=_encode(body), headers={"Content-Type": "application/json"}
            )

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            recorded = Recorded(path, body)
            self.requests.append(recorded)
            count, status = self._failures
            if count > 0:
                self._failures = (count - 1, status)
                recorded.answered = status
                return status, {"error": -1, "errMessage": "temporarily unavailable"}
            if (body.get("octo_shop_id"), body.get("octo_secret")) != (self.shop_id, self.secret):
                return self._answer(recorded, {"error": 2, "errMessage": "wrong shop id or secret"})
            match path:
                case "/prepare_payment":
                    answer = self._prepare(body)
                case "/refund":
                    answer = self._refund(body)
                case "/set_accept":
                    answer = self._set_accept(body)
                case _:
                    recorded.answered = 404
                    return 404, {"error": 404, "errMessage": f"no {path}"}
            delay, self._prepare_delay_s = (self._prepare_delay_s, 0.0) if path == "/prepare_payment" else (0.0, 0.0)
        if delay:
            time.sleep(delay)  # the payment exists already: only its answer is late
        return self._answer(recorded, answer)

    @staticmethod
    def _answer(recorded: Recorded, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        recorded.answered = 200
        return 200, body

    def _wrap(self, payment: Payment) -> dict[str, Any]:
        return {"error": 0, **payment.view()} if self.legacy_answers else {"error": 0, "data": payment.view()}

    def _prepare(self, body: dict[str, Any]) -> dict[str, Any]:
        shop_transaction_id = str(body["shop_transaction_id"])
        if shop_transaction_id in self._lost:
            return {"error": 4, "errMessage": "payment not found"}
        existing = self.payments.get(shop_transaction_id)
        if existing is not None:
            return self._wrap(existing)  # Octo: the same ids return the same payment
        payment_uuid = str(uuid.uuid4())
        payment = Payment(
            uuid=payment_uuid,
            shop_transaction_id=shop_transaction_id,
            status="created",
            total_sum=Decimal(body["total_sum"]),
            currency=str(body["currency"]),
            notify_url=str(body["notify_url"]),
            pay_url=f"{self.url}/pay/{payment_uuid}",
            auto_capture=bool(body["auto_capture"]),
        )
        self.payments[shop_transaction_id] = payment
        return self._wrap(payment)

    def _by_uuid(self, payment_uuid: object) -> Payment | None:
        return next((p for p in self.payments.values() if p.uuid == payment_uuid), None)

    def _refund(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._by_uuid(body.get("octo_payment_UUID"))
        if payment is None:
            return {"error": 4, "errMessage": "payment not found"}
        refund_id = str(body["shop_refund_id"])
        if refund_id in payment.refunds:
            return {"error": 0, "data": payment.refunds[refund_id]}  # the same refund, never a second one
        amount = Decimal(body["amount"])
        if payment.status != "succeeded" or amount <= 0 or payment.refunded_sum + amount > payment.total_sum:
            return {"error": 5, "errMessage": "refund not allowed"}
        payment.refunded_sum += amount
        refund = {
            "shop_refund_id": refund_id,
            "octo_payment_UUID": payment.uuid,
            "refund_id": f"octo-refund-{len(payment.refunds) + 1}",
            "status": "succeeded",
            "amount": amount,
        }
        payment.refunds[refund_id] = refund
        return {"error": 0, "data": refund}

    def _set_accept(self, body: dict[str, Any]) -> dict[str, Any]:
        payment = self._by_uuid(body.get("octo_payment_UUID"))
        if payment is None:
            return {"error": 4, "errMessage": "payment not found"}
        if payment.status != "waiting_for_capture":
            return {"error": 6, "errMessage": f"payment is {payment.status}"}
        match body.get("accept_status"):
            case "capture":
                final = Decimal(body.get("final_amount", payment.total_sum))
                if not 0 < final <= payment.total_sum:
                    return {"error": 7, "errMessage": "final_amount out of range"}
                payment.total_sum, payment.status = final, "succeeded"
            case "cancel":
                payment.status = "canceled"
            case _:
                return {"error": 8, "errMessage": "accept_status must be capture or cancel"}
        return self._wrap(payment)


def _handler(fake: FakeOcto) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw, parse_float=Decimal)
            except ValueError:
                status, answer = 400, {"error": 1, "errMessage": "not JSON"}
            else:
                status, answer = fake.handle(self.path, body)
            payload = _encode(answer)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the caller died while waiting (a killed worker): nobody to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _encode(value: Any) -> bytes:
    """JSON with Decimal sums as exact numbers, the way Octo writes them."""

    def text(item: Any) -> str:
        if isinstance(item, Decimal):
            return format(item, "f")
        if isinstance(item, dict):
            return "{" + ",".join(f"{json.dumps(str(k))}:{text(v)}" for k, v in item.items()) + "}"
        if isinstance(item, list):
            return "[" + ",".join(text(v) for v in item) + "]"
        return json.dumps(item)

    return text(value).encode()
