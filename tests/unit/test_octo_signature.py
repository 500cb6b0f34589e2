"""Octo's notify signature (the vectors of gateways.md) and its status translator."""

from __future__ import annotations

import pytest

from shared.domain.status import TransactionStatus
from shared.gateways.octo.signature import notify_signature, signature_valid
from shared.gateways.octo.statuses import OctoStatus, parse_status, progress, to_transaction_status

KEY = "UNIQUE_KEY_123"
PAYMENT = "4556a13e-f763-4b91-9387-92395fd51ccf"
VECTORS = {
    "waiting_for_capture": "281D9CE98BB3423078FF94EEF543091A7833E59C",
    "succeeded": "7C5F27534C6960F0902C12D55452A3C4CDE4D956",
}


@pytest.mark.parametrize(("status", "expected"), VECTORS.items())
def test_the_vectors_of_gateways_md(status: str, expected: str) -> None:
    assert notify_signature(KEY, PAYMENT, status) == expected
    assert signature_valid(KEY, PAYMENT, status, expected)


@pytest.mark.parametrize("status", VECTORS)
def test_the_comparison_ignores_case_and_surrounding_blanks(status: str) -> None:
    expected = VECTORS[status]

    assert signature_valid(KEY, PAYMENT, status, expected.lower())
    assert signature_valid(KEY, PAYMENT, status, f" {expected.swapcase()}\n")


@pytest.mark.parametrize(
    "received",
    [
        None,
        "",
        VECTORS["waiting_for_capture"],  # signed for another status
        VECTORS["succeeded"][:-1],
        VECTORS["succeeded"] + "0",
        "7C5F27534C6960F0902C12D55452A3C4CDE4D95Ж",  # non-ASCII must be refused, not crash
    ],
)
def test_anything_else_is_refused(received: str | None) -> None:
    assert not signature_valid(KEY, PAYMENT, "succeeded", received)


def test_the_key_and_the_payment_are_part_of_the_signature() -> None:
    signed = VECTORS["succeeded"]

    assert not signature_valid("UNIQUE_KEY_124", PAYMENT, "succeeded", signed)
    assert not signature_valid(KEY, PAYMENT.replace("4556", "4557"), "succeeded", signed)


TRANSLATION = {
    "created": TransactionStatus.PENDING,
    "wait_user_action": TransactionStatus.PENDING,
    "waiting_for_capture": TransactionStatus.PENDING,
    "succeeded": TransactionStatus.COMPLETED,
    "canceled": TransactionStatus.CANCELED,
    "cancelled": TransactionStatus.CANCELED,
    "failed": TransactionStatus.FAILED,
}


def test_every_octo_status_has_its_translation() -> None:
    assert {status.value for status in OctoStatus} == set(TRANSLATION)
    for raw, ours in TRANSLATION.items():
        status = parse_status(raw)
        assert status is not None and to_transaction_status(status) is ours, raw


def test_both_spellings_of_canceled_are_accepted() -> None:
    assert parse_status("canceled") is OctoStatus.CANCELED
    assert parse_status("cancelled") is OctoStatus.CANCELLED
    assert parse_status("CANCELLED") is OctoStatus.CANCELLED
    assert to_transaction_status(OctoStatus.CANCELLED) is to_transaction_status(OctoStatus.CANCELED)


@pytest.mark.parametrize("raw", ["paid", "", None, 3, "succeeded!"])
def test_an_unknown_status_is_not_guessed(raw: object) -> None:
    assert parse_status(raw) is None


def test_progress_never_ranks_a_final_status_below_a_pending_one() -> None:
    finals = [OctoStatus.SUCCEEDED, OctoStatus.CANCELED, OctoStatus.CANCELLED, OctoStatus.FAILED]
    steps = [OctoStatus.CREATED, OctoStatus.WAIT_USER_ACTION, OctoStatus.WAITING_FOR_CAPTURE]

    assert [progress(s) for s in steps] == sorted(progress(s) for s in steps)
    assert min(progress(s) for s in finals) > max(progress(s) for s in steps)
