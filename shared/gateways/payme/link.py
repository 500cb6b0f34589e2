"""Payme's checkout link: the payer's browser goes there to pay one order."""

from __future__ import annotations

import base64

LANGUAGES = frozenset({"ru", "uz", "en"})


def checkout_link(
    checkout_url: str,
    merchant_id: str,
    field: str,
    value: str,
    amount: int,
    return_url: str | None = None,
    language: str | None = None,
) -> str:
    """`checkout_url/base64("m=..;ac.<field>=..;a=<tiyin>[;c=..][;l=..]")`, as gateways.md describes it."""
    parts = [f"m={merchant_id}", f"ac.{field}={value}", f"a={amount}"]
    if return_url:
        # `;` separates the parameters, so one inside the URL must travel percent-encoded.
        parts.append("c=" + return_url.replace(";", "%3B"))
    if language in LANGUAGES:
        parts.append(f"l={language}")
    encoded = base64.b64encode(";".join(parts).encode()).decode()
    return f"{checkout_url.rstrip('/')}/{encoded}"
