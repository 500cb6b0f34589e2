"""problem+json answers in the caller's language: title and detail follow Accept-Language, nothing else changes."""

from __future__ import annotations

import uuid

import httpx

from tests.support.world import TenantWorld


async def test_title_and_detail_follow_accept_language_and_the_rest_stays(
    client: httpx.AsyncClient, tenant: TenantWorld
) -> None:
    path = f"/v1/transactions/{uuid.uuid4()}"
    answers = {}
    for header in (None, "ru", "uz-UZ;q=0.9, ru;q=0.5", "de, ru;q=0.1, en;q=0.9"):
        headers = dict(tenant.auth) | ({"Accept-Language": header} if header else {})
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("application/problem+json")
        answers[header] = (answer.headers["content-language"], answer.json())
    english = answers[None][1]
    assert answers[None][0] == "en" and english["title"] == "Not Found" and str(english["detail"]).startswith("no ")
    assert answers["ru"][0] == "ru" and answers["ru"][1]["title"] == "Не найдено"  # noqa: RUF001
    assert answers["ru"][1]["detail"] == "Транзакция не существует."
    assert answers["uz-UZ;q=0.9, ru;q=0.5"][0] == "uz"
    assert answers["uz-UZ;q=0.9, ru;q=0.5"][1]["title"] == "Topilmadi"
    assert answers["de, ru;q=0.1, en;q=0.9"][0] == "en"
    for _, body in answers.values():
        assert (body["type"], body["code"], body["status"]) == (english["type"], english["code"], 404)


async def test_validation_and_authentication_errors_are_localised_too(client: httpx.AsyncClient) -> None:
    unauthenticated = await client.get("/v1/transactions", headers={"Accept-Language": "ru"})
    assert unauthenticated.status_code == 401 and unauthenticated.headers["content-language"] == "ru"
    assert unauthenticated.json()["title"] == "Не авторизован" and unauthenticated.json()["code"] == "unauthenticated"  # noqa: RUF001
    malformed = await client.post(
        "/v1/transactions",
        content=b"{",
        headers={"Authorization": "Bearer x", "Accept-Language": "uz", "Content-Type": "application/json"},
    )
    assert malformed.headers["content-language"] == "uz"
