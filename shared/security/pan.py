"""Card numbers never reach storage whole: masked to their first 6 and last 4 digits where input arrives.

A PAN is a run of 13-19 digits (optionally grouped by spaces or dashes) that passes the Luhn check. Values
under identifier keys (`id`, `*_id`, `*Id`, `*_uuid`, `*UUID`) are left alone: gateways' own references and
merchants' order ids may be long digit runs, and masking them would lose the payment. JSON numbers are left
alone too (Payme's millisecond times are 13 digits). Card security codes (CVV/CVC) are dropped whatever
their form.
"""

from __future__ import annotations

import re
from typing import Any

_CANDIDATE = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z])")
_IDENTIFIER = re.compile(r"(?:^id$|_id$|[a-z]Id$|_uuid$|UUID$)")
_SECURITY_CODE = re.compile(r"^(?:cvv2?|cvc2?|cid|csc|card_?code|security_?code|card_?verification.*)$", re.I)
DROPPED = "[removed]"


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _masked(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return match.group()
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def mask_text(text: str) -> str:
    return _CANDIDATE.sub(_masked, text) if len(text) >= 13 else text


def mask_pans(value: Any, key: str | None = None) -> Any:
    """`value` with every card number in its strings masked and security codes removed, recursively."""
    if key is not None and _SECURITY_CODE.match(key):
        return DROPPED
    if isinstance(value, str):
        return value if key is not None and _IDENTIFIER.search(key) else mask_text(value)
    if isinstance(value, dict):
        return {name: mask_pans(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_pans(item, key) for item in value]
    return value
