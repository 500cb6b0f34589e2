"""A replayed, correctly signed Octo notify is answered but never re-applies its unsigned fields."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.cipher import Cipher
from tests.e2e.test_octo import audit, octo, octo_world, paid_through_octo, view
from tests.support.events import EventLog
from tests.support.fakes.octo import FakeOcto

__all__ = ["octo"]  # the fixture, shared with test_octo


async def test_a_replay_with_other_sums_and_card_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto, events: EventLog
) -> None:
    world = await octo_world(engine, cipher, octo)
    done = await paid_through_octo(client, world, octo)
    assert done["details"]["masked_pan"] == "860049******6478"
    trail = await audit(client, world, done["id"])

    # Signed over (uuid, status) only, so an eavesdropper can resend it with any other field.
    replay = await octo.notify(
        done["id"],
        maskedPan="999999******0000",
        total_sum=Decimal("1.00"),
        transfer_sum=Decimal("0.98"),
        refunded_sum=Decimal("1500.00"),
        rrn="000000000000",
        card_country="XX",
    )

    assert (replay.status_code, replay.json()) == (200, {"error": 0})
    assert await view(client, world, done["id"]) == done
    assert await audit(client, world, done["id"]) == trail
    await asyncio.sleep(1.0)  # let any stray event reach the listener
    assert not events.of(done["id"], "transaction.updated")[1:], "only the payment link was an update"


async def test_a_new_status_of_the_same_payment_is_still_applied(
    client: httpx.AsyncClient, engine: AsyncEngine, cipher: Cipher, octo: FakeOcto
) -> None:
    world = await octo_world(engine, cipher, octo)
    done = await paid_through_octo(client, world, octo)
    assert done["details"]["notified_statuses"] == ["succeeded"]
    octo.set_status(done["id"], "canceled")
    answer = await octo.notify(done["id"], "canceled")
    assert answer.status_code == 200, answer.text
    assert (await view(client, world, done["id"]))["details"]["notified_statuses"] == ["succeeded", "canceled"]
