"""A fake Stripe: a real HTTP server on 127.0.0.1 speaking enough of Stripe's API for the real `stripe` library.

Form-encoded requests like Stripe's, idempotent by `Idempotency-Key` (the same key replays the first answer, the
same key with other parameters is an `idempotency_error`), errors in Stripe's JSON shape. It records every request,
can answer 503 for the next calls (before or after doing the work), can hold a new session's answer back, and does
what a customer or the Dashboard would do (pay, expire, renew, refund) so tests get Stripe-shaped objects for the
events they send. Lists page like Stripe's: newest first, `created` filters, `limit` (at most `page_size`, a knob
standing for Stripe's 100), `starting_after` an id of the previous page, `has_more`.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.fakes.local_server import LocalServer

INT_PARAMS = frozenset({"unit_amount", "quantity", "amount", "trial_period_days", "expires_at", "limit"})
STRIPE_MAX_LIMIT = 100


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    answered: int = 0

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


class StripeFailure(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.body = status, {"error": {"type": kind, "code": code, "message": message}}


def decode_form(raw: str) -> dict[str, Any]:
    """`a[b][0][c]=x` back into nested dicts and lists, as Stripe reads its form encoding."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = int(value) if parts[-1] in INT_PARAMS and value.lstrip("-").isdigit() else value
    decoded: dict[str, Any] = _listify(root)
    return decoded


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _listify(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _id(prefix: str) -> str:
    return f"{prefix}_test_{uuid.uuid4().hex[:24]}"


class FakeStripe:
    def __init__(self) -> None:
        self.api_key = f"sk_test_{uuid.uuid4().hex}"
        self.requests: list[Recorded] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self.session_params: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, tuple[int, str]] = {}
        self.refund_status = "succeeded"
        self.refund_failure_reason: str | None = None
        self.page_size = STRIPE_MAX_LIMIT
        self._failures: list[tuple[int, bool]] = []
        self._replays: dict[tuple[str, str], tuple[dict[str, Any], int, dict[str, Any]]] = {}
        self._hold: threading.Event | None = None
        self._lock = threading.RLock()  # pay() makes an invoice under the same lock
        self._http = LocalServer(_handler(self))

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> FakeStripe:
        self._http.start()
        return self

    def stop(self) -> None:
        if self._hold is not None:
            self._hold.set()
        self._http.stop()

    # --- knobs ---------------------------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503, *, after_processing: bool = False) -> None:
        """The next `count` calls answer `status`; with `after_processing` the work is done and the answer lost."""
        with self._lock:
            self._failures.extend([(status, after_processing)] * count)

    def hold_new_sessions(self) -> threading.Event:
        """New sessions are made at once but answered only when the returned event is set."""
        self._hold = threading.Event()
        return self._hold

    def add_price(self, unit_amount: int, currency: str) -> str:
        price_id = _id("price")
        self.prices[price_id] = (unit_amount, currency)
        return price_id

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- what the customer or the Dashboard does -----------------------------------------------------------------

    def pay(self, session_id: str, payment_status: str = "paid", email: str = "payer@example.com") -> dict[str, Any]:
        """The customer finishes Checkout: `paid`, `unpaid` (an asynchronous method) or `no_payment_required`."""
        with self._lock:
            session = self.sessions[session_id]
            params = self.session_params[session_id]
            session.update(status="complete", payment_status=payment_status)
            session["customer"] = session["customer"] or _id("cus")
            session["customer_details"] = {"email": session["customer_email"] or email}
            charged = 0 if payment_status == "no_payment_required" else session["amount_total"]
            if session["mode"] == "payment":
                intent_status = "processing" if payment_status == "unpaid" else "succeeded"
                meta = params.get("payment_intent_data", {}).get("metadata", {})
                session["payment_intent"] = self._payment_intent(charged, session["currency"], intent_status, meta)
            else:
                sub = self._subscription(session, params)
                session["subscription"] = sub["id"]
                invoice = self._invoice(sub["id"], "subscription_create", charged, payment_status != "unpaid", 1)
                session["invoice"] = invoice["id"]
            return copy.deepcopy(session)

    def settle_async(self, session_id: str, paid: bool) -> dict[str, Any]:
        """An asynchronous payment succeeds, or fails (its PaymentIntent then waits for another payment method)."""
        with self._lock:
            session = self.sessions[session_id]
            session["payment_status"] = "paid" if paid else "unpaid"
            if session["payment_intent"] in self.payment_intents:
                status = "succeeded" if paid else "requires_payment_method"
                self.payment_intents[session["payment_intent"]]["status"] = status
            return copy.deepcopy(session)

    def add_session(
        self, amount: int, currency: str = "usd", *, paid: bool = True, created: int | None = None
    ) -> dict[str, Any]:
        """A session made elsewhere (another integration, a payment link): none of our ids in it."""
        line = {"price_data": {"currency": currency, "unit_amount": amount, "product_data": {"name": "x"}}}
        params = {"mode": "payment", "success_url": "https://elsewhere.example/ok", "line_items": [line]}
        with self._lock:
            session = self._create_session(params)
            if created is not None:
                self.sessions[session["id"]]["created"] = created
            return self.pay(session["id"]) if paid else copy.deepcopy(self.sessions[session["id"]])

    def expire(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            self.sessions[session_id].update(status="expired")
            return copy.deepcopy(self.sessions[session_id])

    def subscription(self, subscription_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            self.subscriptions[subscription_id].update(changes)
            return copy.deepcopy(self.subscriptions[subscription_id])

    def invoice(
        self,
        subscription_id: str,
        billing_reason: str,
        amount: int,
        *,
        paid: bool = True,
        attempt_count: int = 1,
    ) -> dict[str, Any]:
        """An invoice of a subscription, in the current API shape (no `payments`: ask /v1/invoice_payments)."""
        with self._lock:
            return self._invoice(subscription_id, billing_reason, amount, paid, attempt_count)

    def _invoice(
        self, subscription_id: str, billing_reason: str, amount: int, paid: bool, attempt_count: int
    ) -> dict[str, Any]:
        sub = self.subscriptions[subscription_id]
        invoice_id = _id("in")
        pi = self._payment_intent(amount, sub["currency"]) if paid and amount else None
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "billing_reason": billing_reason,
            "currency": sub["currency"],
            "customer": sub["customer"],
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "attempt_count": attempt_count,
            "status": "paid" if paid else "open",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription_id, "metadata": dict(sub["metadata"])},
            },
            "created": int(time.time()),
        }
        self.invoices[invoice_id] = {**invoice, "_payment_intent": pi}
        return copy.deepcopy(invoice)

    def dashboard_refund(self, payment_intent: str, amount: int, status: str = "succeeded") -> dict[str, Any]:
        """A refund made in Stripe's Dashboard: no metadata of ours."""
        with self._lock:
            return copy.deepcopy(self._refund({"payment_intent": payment_intent, "amount": amount}, status, None))

    def charge(self, payment_intent: str, *, with_refunds: bool = False) -> dict[str, Any]:
        """The charge behind a PaymentIntent; `with_refunds` is the pre-2022-11-15 shape that lists them."""
        pi = self.payment_intents[payment_intent]
        charge = {
            "id": pi["latest_charge"],
            "object": "charge",
            "payment_intent": payment_intent,
            "amount": pi["amount"],
            "amount_refunded": pi["refunded"],
            "refunded": pi["refunded"] >= pi["amount"],
            "currency": pi["currency"],
        }
        if with_refunds:
            listed = [r for r in self.refunds.values() if r["payment_intent"] == payment_intent]
            charge["refunds"] = {"object": "list", "data": copy.deepcopy(listed), "has_more": False}
        return charge

    # --- the API -------------------------------------------------------------------------------------------------

    def handle(self, record: Recorded) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(record)
            failure = self._failures.pop(0) if self._failures else None
        if record.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, StripeFailure(401, "Invalid API Key provided").body, {}
        if failure is not None and not failure[1]:
            return failure[0], StripeFailure(failure[0], "Stripe is unavailable", kind="api_error").body, {}
        status, body, headers = self._idempotent(record)
        if failure is not None:
            return failure[0], StripeFailure(failure[0], "the answer was lost", kind="api_error").body, {}
        return status, body, headers

    def _idempotent(self, record: Recorded) -> tuple[int, dict[str, Any], dict[str, str]]:
        key = record.idempotency_key
        if record.method != "POST" or not key:
            return (*self._route(record), {})
        with self._lock:
            replay = self._replays.get((record.path, key))
        if replay is not None:
            if replay[0] != record.params:
                message = "Keys for idempotent requests can only be used with the same parameters they were first used."
                return 400, StripeFailure(400, message, kind="idempotency_error").body, {}
            return replay[1], copy.deepcopy(replay[2]), {"Idempotent-Replayed": "true"}
        status, body = self._route(record)
        if status < 500:
            with self._lock:
                self._replays[(record.path, key)] = (record.params, status, copy.deepcopy(body))
        return status, body, {}

    def _route(self, record: Recorded) -> tuple[int, dict[str, Any]]:
        method, path, params = record.method, record.path, record.params
        try:
            if method == "POST" and path == "/v1/checkout/sessions":
                session = self._create_session(params)
                if self._hold is not None:
                    self._hold.wait(timeout=30)
                return 200, session
            if method == "GET" and path == "/v1/checkout/sessions":
                return 200, self._list_sessions(path, params)
            if method == "GET" and path.startswith("/v1/checkout/sessions/"):
                return 200, self._get(self.sessions, path.rsplit("/", 1)[1], "checkout.session")
            if method == "POST" and path == "/v1/refunds":
                with self._lock:
                    return 200, copy.deepcopy(self._create_refund(params))
            if method == "GET" and path.startswith("/v1/refunds/"):
                return 200, self._get(self.refunds, path.rsplit("/", 1)[1], "refund")
            if method == "GET" and path == "/v1/refunds":
                with self._lock:
                    found = [
                        r
                        for r in self.refunds.values()
                        if params.get("charge") in (r["charge"], None)
                        and params.get("payment_intent") in (r["payment_intent"], None)
                    ]
                    return 200, self._page(path, copy.deepcopy(found), params)
            if method == "GET" and path.startswith("/v1/invoices/"):
                invoice = self._get(self.invoices, path.rsplit("/", 1)[1], "invoice")
                return 200, {k: v for k, v in invoice.items() if not k.startswith("_")}
            if method == "GET" and path == "/v1/invoice_payments":
                return 200, self._invoice_payments(str(params.get("invoice")))
        except StripeFailure as exc:
            return exc.status, exc.body
        return 404, StripeFailure(404, f"Unrecognized request URL ({method}: {path})").body

    def _list_sessions(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        expand = params.get("expand") or []
        expand = [expand] if isinstance(expand, str) else expand
        with self._lock:
            listed = self._page(path, copy.deepcopy(list(self.sessions.values())), params)
            for session in listed["data"]:
                intent = session["payment_intent"]
                if intent in self.payment_intents and "data.payment_intent.latest_charge" in expand:
                    session["payment_intent"] = self._intent_view(intent, expand_charge=True)
                elif intent in self.payment_intents and "data.payment_intent" in expand:
                    session["payment_intent"] = self._intent_view(intent, expand_charge=False)
        return listed

    def _page(self, path: str, rows: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        """Stripe's list answer: newest first, filtered by `created`, cut by `limit` after `starting_after`."""
        limit = params.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= STRIPE_MAX_LIMIT:
            raise StripeFailure(400, "This value must be between 1 and 100.", "parameter_invalid_integer")
        created = params.get("created")
        bounds = created if isinstance(created, dict) else {} if created is None else {"gte": created, "lte": created}
        checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
        for op, bound in bounds.items():
            if op not in checks:
                raise StripeFailure(400, f"Received unknown parameter: created[{op}]", "parameter_unknown")
            rows = [r for r in rows if checks[op](int(r["created"]), int(bound))]
        rows = sorted(reversed(rows), key=lambda r: int(r["created"]), reverse=True)
        start = 0
        if params.get("starting_after"):
            ids = [r["id"] for r in rows]
            if params["starting_after"] not in ids:
                raise StripeFailure(400, f"No such object: '{params['starting_after']}'", "resource_missing")
            start = ids.index(params["starting_after"]) + 1
        size = min(limit, self.page_size)
        data = rows[start : start + size]
        return {"object": "list", "url": path, "has_more": start + size < len(rows), "data": data}

    def _intent_view(self, pi_id: str, *, expand_charge: bool) -> dict[str, Any]:
        pi = self.payment_intents[pi_id]
        return {
            "id": pi_id,
            "object": "payment_intent",
            "amount": pi["amount"],
            "amount_received": pi["amount"] if pi["status"] == "succeeded" else 0,
            "currency": pi["currency"],
            "status": pi["status"],
            "metadata": copy.deepcopy(pi["metadata"]),
            "latest_charge": self.charge(pi_id) if expand_charge else pi["latest_charge"],
        }

    def _get(self, table: dict[str, dict[str, Any]], object_id: str, kind: str) -> dict[str, Any]:
        with self._lock:
            if object_id not in table:
                raise StripeFailure(404, f"No such {kind}: '{object_id}'", "resource_missing")
            return copy.deepcopy(table[object_id])

    def _create_session(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("mode")
        if mode not in ("payment", "subscription"):
            raise StripeFailure(400, "Invalid mode", "parameter_invalid")
        if params.get("customer") and params.get("customer_email"):
            raise StripeFailure(400, "You may only specify one of these parameters: customer, customer_email.")
        amount, currency = self._lines(params.get("line_items"), mode)
        session_id = _id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "payment_status": "unpaid",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "customer_details": None,
            "payment_intent": None,
            "subscription": None,
            "invoice": None,
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "expires_at": params.get("expires_at") or int(time.time()) + 86_400,
            "created": int(time.time()),
            "livemode": False,
        }
        with self._lock:
            self.sessions[session_id] = session
            self.session_params[session_id] = params
            return copy.deepcopy(session)

    def _lines(self, lines: Any, mode: str) -> tuple[int, str]:
        if not isinstance(lines, list) or not lines:
            raise StripeFailure(400, "Missing required param: line_items.", "parameter_missing")
        total, currencies = 0, set()
        for index, line in enumerate(lines):
            quantity = line.get("quantity", 1)
            if "price" in line:
                if line["price"] not in self.prices:
                    raise StripeFailure(400, f"No such price: '{line['price']}'", "resource_missing")
                unit, currency = self.prices[line["price"]]
            elif mode == "payment" and isinstance(line.get("price_data"), dict):
                unit, currency = line["price_data"]["unit_amount"], line["price_data"]["currency"]
            else:
                raise StripeFailure(400, f"line_items[{index}] needs a price", "parameter_missing")
            total += unit * quantity
            currencies.add(currency)
        if len(currencies) != 1:
            raise StripeFailure(400, "All line items must share one currency.")
        return total, currencies.pop()

    def _payment_intent(
        self, amount: int, currency: str, status: str = "succeeded", metadata: dict[str, Any] | None = None
    ) -> str:
        pi = _id("pi")
        self.payment_intents[pi] = {
            "amount": amount,
            "currency": currency,
            "refunded": 0,
            "latest_charge": _id("ch"),
            "status": status,
            "metadata": dict(metadata or {}),
        }
        return pi

    def _subscription(self, session: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        data = params.get("subscription_data", {})
        trial = data.get("trial_period_days")
        sub = {
            "id": _id("sub"),
            "object": "subscription",
            "status": "trialing" if trial else "active",
            "customer": session["customer"],
            "currency": session["currency"],
            "metadata": data.get("metadata", {}),
            "items": {
                "object": "list",
                "data": [
                    {"price": {"id": line["price"]}, "quantity": line.get("quantity", 1)}
                    for line in params["line_items"]
                ],
            },
            "trial_end": int(time.time()) + trial * 86_400 if trial else None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "ended_at": None,
            "created": int(time.time()),
        }
        self.subscriptions[sub["id"]] = sub
        return sub

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        failure = self.refund_failure_reason if self.refund_status == "failed" else None
        return self._refund(params, self.refund_status, failure)

    def _refund(self, params: dict[str, Any], status: str, failure_reason: str | None) -> dict[str, Any]:
        pi_id = params.get("payment_intent") or next(
            (k for k, v in self.payment_intents.items() if v["latest_charge"] == params.get("charge")), None
        )
        if pi_id not in self.payment_intents:
            raise StripeFailure(400, "No such payment_intent", "resource_missing")
        pi = self.payment_intents[pi_id]
        left = pi["amount"] - pi["refunded"]
        amount = params.get("amount", left)
        if amount <= 0 or amount > left:
            message = f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
            raise StripeFailure(400, message, "amount_too_large")
        if status in ("succeeded", "pending"):
            pi["refunded"] += amount
        refund = {
            "id": _id("re"),
            "object": "refund",
            "amount": amount,
            "currency": pi["currency"],
            "status": status,
            "payment_intent": pi_id,
            "charge": pi["latest_charge"],
            "metadata": params.get("metadata", {}),
            "reason": params.get("reason"),
            "failure_reason": failure_reason,
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        return refund

    def _invoice_payments(self, invoice_id: str) -> dict[str, Any]:
        invoice = self.invoices.get(invoice_id)
        rows = []
        if invoice is not None and invoice["_payment_intent"]:
            payment = {"type": "payment_intent", "payment_intent": invoice["_payment_intent"]}
            rows.append({"id": _id("inpay"), "object": "invoice_payment", "status": "paid", "payment": payment})
        return {"object": "list", "url": "/v1/invoice_payments", "has_more": False, "data": rows}


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else url.query
            headers = {k.lower(): v for k, v in self.headers.items()}
            record = Recorded(method, url.path, headers, decode_form(raw))
            status, body, extra = fake.handle(record)
            record.answered = status
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
