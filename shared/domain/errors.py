"""Domain errors: each carries a stable code that the edges map to their own protocol."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"


class InvalidAmount(DomainError):
    code = "invalid_amount"


class UnknownCurrency(DomainError):
    code = "unknown_currency"


class InvalidDetails(DomainError):
    code = "invalid_details"


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"


class RefundExceedsRemainder(DomainError):
    code = "refund_exceeds_remainder"


class NotFound(DomainError):
    code = "not_found"


class UnknownGateway(DomainError):
    code = "unknown_gateway"
