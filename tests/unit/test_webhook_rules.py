"""Merchant webhook rules: event lists, verdicts on answers, the retry schedule with jitter, secrets."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from services.webhooks.sender import signed_headers
from shared.domain.webhooks import (
    JITTER,
    InvalidEndpoint,
    Verdict,
    event_types,
    new_secret,
    retry_delay,
    verdict,
    wants,
)
from shared.persistence.webhooks import ClaimedDelivery
from shared.settings import DEFAULT_WEBHOOKS_RETRY_SCHEDULE, Settings, retry_delays


def test_the_default_schedule_retries_for_more_than_a_day() -> None:
    delays = retry_delays(DEFAULT_WEBHOOKS_RETRY_SCHEDULE)
    assert sum(delays) * (1 - JITTER) >= 24 * 3600
    assert Settings().webhooks_retry_delays == delays


@pytest.mark.parametrize("schedule", ["", "5,,6", "5,-1", "0", "a", "5;6"])
def test_a_bad_schedule_is_refused(schedule: str) -> None:
    with pytest.raises(ValueError):
        Settings(webhooks_retry_schedule=schedule)


def test_each_delay_has_jitter_within_bounds_and_the_schedule_ends() -> None:
    schedule = (5.0, 300.0, 1800.0)
    rng = random.Random(7)
    seen = {retry_delay(schedule, 1, rng) for _ in range(50)}
    assert all(d is not None and 5 * (1 - JITTER) <= d <= 5 * (1 + JITTER) for d in seen)
    assert len(seen) > 1, "jitter spreads the retries"
    assert retry_delay(schedule, 3, rng) is not None
    assert retry_delay(schedule, 4, rng) is None, "attempts = delays + 1"
    assert retry_delay(schedule, 0, rng) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, Verdict.DELIVERED), (204, Verdict.DELIVERED), (299, Verdict.DELIVERED), (301, Verdict.RETRY),
     (400, Verdict.RETRY), (410, Verdict.GONE), (500, Verdict.RETRY), (None, Verdict.RETRY)],
)  # fmt: skip
def test_only_a_2xx_delivers_and_410_means_gone(status: int | None, expected: Verdict) -> None:
    assert verdict(status) is expected


def test_event_lists() -> None:
    assert event_types(["*"]) == ["*"]
    assert event_types(["transaction.completed", "refund.succeeded", "transaction.completed"]) == [
        "transaction.completed",
        "refund.succeeded",
    ]
    for bad in ([], ["*", "transaction.completed"], ["transaction.paid"], ["billing.transaction.completed"]):
        with pytest.raises(InvalidEndpoint):
            event_types(bad)
    assert wants(["*"], "refund.failed") and wants(["refund.failed"], "refund.failed")
    assert not wants(["transaction.completed"], "transaction.created")


def test_secrets_are_standard_webhooks_secrets_and_every_active_one_signs() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    body = '{"id":"e1","type":"billing.transaction.completed"}'
    claimed = ClaimedDelivery(
        id=uuid.uuid4(),
        endpoint_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        body=body,
        attempt_count=0,
        url="https://example.com/hook",
        secrets=[second, first],
    )
    headers = signed_headers(claimed, datetime.now(UTC))
    assert headers["webhook-id"] == str(claimed.event_id)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (first, second):
        assert Webhook(secret).verify(body, headers) == {"id": "e1", "type": "billing.transaction.completed"}
