"""Click's checked test vector (shared/spec/gateways.md): a Prepare for order-1001 signed with TEST_SECRET_KEY."""

from __future__ import annotations

SECRET = "TEST_SECRET_KEY"
PREPARE_VECTOR = {
    "click_trans_id": "2854321987",
    "service_id": "12345",
    "click_paydoc_id": "3987654321",
    "merchant_trans_id": "order-1001",
    "amount": "15000.00",
    "action": "0",
    "error": "0",
    "error_note": "Success",
    "sign_time": "2025-05-28 12:00:00",
    "sign_string": "5168e3812610f5f2056fdf687b09d56e",
}
