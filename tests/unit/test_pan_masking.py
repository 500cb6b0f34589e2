"""Card numbers masked to first 6 / last 4 before storage; ids, numbers and non-Luhn runs left alone."""

from __future__ import annotations

from shared.security.pan import DROPPED, luhn_valid, mask_pans, mask_text

VISA = "4111111111111111"
UZCARD = "8600312990314318"  # a test Uzcard number (passes Luhn)


def test_luhn() -> None:
    assert luhn_valid(VISA) and luhn_valid("378282246310005") and luhn_valid(UZCARD)
    assert not luhn_valid("4111111111111112")


def test_pans_in_text_are_masked_to_first_six_and_last_four() -> None:
    assert mask_text(f"card {VISA} paid") == "card 411111******1111 paid"
    assert mask_text("4111 1111 1111 1111") == "411111******1111"
    assert mask_text("4111-1111-1111-1111.") == "411111******1111."
    assert mask_text("3782 822463 10005") == "378282*****0005"
    assert mask_text("4111111111111112") == "4111111111111112"  # fails Luhn: not a card
    assert mask_text(f"x{VISA}") == f"x{VISA}"  # inside a word (hex ids, tokens)
    assert mask_text("41111111111111110000") == "41111111111111110000"  # 20 digits: longer than any PAN


def test_documents_are_masked_recursively_but_ids_and_numbers_are_kept() -> None:
    document = {
        "note": f"paid with {VISA}",
        "card": {"number": UZCARD, "cvv": "123", "CVC2": 456, "expiry": "12/29"},
        "items": [VISA, {"pan": VISA}],
        "order_id": VISA,
        "octo_payment_UUID": VISA,
        "time": 4111111111111111,
        "id": VISA,
    }
    masked = mask_pans(document)
    assert masked["note"] == "paid with 411111******1111"
    assert masked["card"] == {"number": "860031******4318", "cvv": DROPPED, "CVC2": DROPPED, "expiry": "12/29"}
    assert masked["items"] == ["411111******1111", {"pan": "411111******1111"}]
    assert masked["order_id"] == VISA and masked["octo_payment_UUID"] == VISA and masked["id"] == VISA
    assert masked["time"] == 4111111111111111
