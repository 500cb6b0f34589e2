"""The integrator's signature: timestamped by default, 300 s either way, previous secret, legacy form."""

from __future__ import annotations

import hashlib
import hmac

from shared.gateways.integrator.signature import TOLERANCE_S, sign, sign_legacy, signature_valid

SECRET = "integrator-secret-0123456789"
OLD = "integrator-secret-old-987654"
BODY = b'{"transaction_id": "x", "status": "completed"}'
NOW = 1_800_000_000


def test_the_default_form_signs_the_timestamp_with_the_body() -> None:
    header = sign(SECRET, BODY, at=NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert signature_valid([SECRET], BODY, header, now=NOW)
    assert not signature_valid([SECRET], BODY + b" ", header, now=NOW)
    assert not signature_valid([OLD], BODY, header, now=NOW)
    forged_time = header.replace(f"t={NOW}", f"t={NOW + 1}")
    assert not signature_valid([SECRET], BODY, forged_time, now=NOW)


def test_older_or_later_than_300_seconds_is_refused() -> None:
    assert signature_valid([SECRET], BODY, sign(SECRET, BODY, at=NOW - TOLERANCE_S), now=NOW)
    assert signature_valid([SECRET], BODY, sign(SECRET, BODY, at=NOW + TOLERANCE_S), now=NOW)
    assert not signature_valid([SECRET], BODY, sign(SECRET, BODY, at=NOW - TOLERANCE_S - 1), now=NOW)
    assert not signature_valid([SECRET], BODY, sign(SECRET, BODY, at=NOW + TOLERANCE_S + 1), now=NOW)


def test_either_secret_while_both_are_set_and_several_v1_values() -> None:
    by_old = sign(OLD, BODY, at=NOW)
    assert signature_valid([SECRET, OLD], BODY, by_old, now=NOW)
    assert not signature_valid([SECRET, None], BODY, by_old, now=NOW)
    both = f"{sign(SECRET, BODY, at=NOW)},v1={by_old.split('v1=')[1]}"
    assert signature_valid([SECRET], BODY, both, now=NOW)


def test_malformed_headers_are_refused() -> None:
    for header in (
        None,
        "",
        "t=,v1=ab",
        "v1=ab",
        f"t={NOW}",
        f"t=-{NOW},v1=ab",
        "t=1e3,v1=ab",
        sign_legacy(SECRET, BODY),
    ):
        assert not signature_valid([SECRET], BODY, header, now=NOW), header
    assert not signature_valid([], BODY, sign(SECRET, BODY, at=NOW), now=NOW)


def test_the_legacy_form_only_where_asked() -> None:
    legacy = sign_legacy(SECRET, BODY)
    assert legacy == "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert signature_valid([SECRET], BODY, legacy, legacy=True)
    assert signature_valid([OLD, SECRET], BODY, legacy.upper().replace("SHA256=", "sha256="), legacy=True)
    assert not signature_valid([SECRET], BODY, sign(SECRET, BODY), legacy=True)
