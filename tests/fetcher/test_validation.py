"""Bad input fails at the call, with a message that names the culprit.

These need no event loop: ``DataFetcher()`` and ``fetch()`` validate
synchronously, which is what "raised before any request starts" means.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import AsyncIterator

import httpx
import pytest

from fetcher import DataFetcher, Result


def test_result_is_the_contract_dataclass() -> None:
    fields = [(f.name, f.default) for f in dataclasses.fields(Result)]
    assert fields == [("url", dataclasses.MISSING), ("body", None), ("error", None)]
    r = Result("http://a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.body = b"x"  # type: ignore[misc]


def test_constructor_signature_matches_the_contract() -> None:
    params = inspect.signature(DataFetcher).parameters
    assert list(params)[:2] == ["client", "max_concurrency"]
    assert params["client"].default is None
    assert params["max_concurrency"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["max_concurrency"].default is None


@pytest.mark.parametrize("bad", [0, -1, -100])
def test_max_concurrency_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="max_concurrency must be a positive int"):
        DataFetcher(max_concurrency=bad)


@pytest.mark.parametrize("bad", [1.5, "4", True, 2.0, [3]])
def test_max_concurrency_must_be_an_int(bad: object) -> None:
    with pytest.raises(TypeError, match="max_concurrency must be a positive int"):
        DataFetcher(max_concurrency=bad)  # type: ignore[arg-type]


def test_good_max_concurrency_is_accepted() -> None:
    DataFetcher(max_concurrency=1)
    DataFetcher(max_concurrency=None)


def test_client_must_be_an_async_client() -> None:
    with httpx.Client() as sync_client, pytest.raises(TypeError, match=r"httpx\.AsyncClient"):
        DataFetcher(sync_client)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"timeout": 0}, ValueError, "timeout must be a positive number"),
        ({"timeout": float("nan")}, ValueError, "timeout must be a positive number"),
        ({"timeout": "5"}, TypeError, "timeout must be a positive number"),
        ({"max_body_size": 0}, ValueError, "max_body_size must be a positive int"),
        ({"max_body_size": 1.5}, TypeError, "max_body_size must be a positive int"),
        ({"allowed_schemes": "https"}, TypeError, "allowed_schemes must be a collection"),
        ({"allowed_schemes": []}, ValueError, "allowed_schemes must not be empty"),
        ({"allowed_schemes": [1]}, TypeError, "allowed_schemes items must be"),
    ],
)
def test_options_are_validated(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        DataFetcher(**kwargs)  # type: ignore[arg-type]


def test_options_can_be_switched_off() -> None:
    DataFetcher(timeout=None, max_body_size=None, allowed_schemes={"HTTPS"})


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        (42, r"urls must be an iterable of str or httpx.URL, got int: 42"),
        (None, r"got NoneType"),
        ("http://a.test/", r"not a single str \('http://a.test/'\); to fetch one URL pass a list"),
        (b"http://a.test/", r"not a single bytes"),
        (httpx.URL("http://a.test/"), r"not a single URL"),
    ],
)
def test_urls_must_be_an_iterable_of_urls(urls: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        DataFetcher().fetch(urls)  # type: ignore[arg-type]


def test_async_iterable_gets_a_hint() -> None:
    async def agen() -> AsyncIterator[str]:
        yield "http://a.test/"

    gen = agen()
    with pytest.raises(TypeError, match="async iterables are not supported"):
        DataFetcher().fetch(gen)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "shown"),
    [(b"http://b.test/", r"bytes: b'http://b.test/'"), (None, "NoneType: None"), (7, "int: 7")],
)
def test_bad_item_is_named_with_its_index(bad: object, shown: str) -> None:
    urls = ["http://a.test/", bad, "http://c.test/"]
    with pytest.raises(TypeError, match=rf"urls\[1\] must be a str or httpx.URL, got {shown}"):
        DataFetcher().fetch(urls)  # type: ignore[arg-type]


def test_bad_item_in_a_one_shot_generator_fails_at_the_call() -> None:
    pulled: list[object] = []

    def gen() -> object:
        for item in ["http://a.test/", "http://b.test/", 3, "http://d.test/"]:
            pulled.append(item)
            yield item

    with pytest.raises(TypeError, match=r"urls\[2\] must be a str or httpx.URL, got int: 3"):
        DataFetcher().fetch(gen())  # type: ignore[arg-type]
    assert pulled == ["http://a.test/", "http://b.test/", 3]


def test_huge_bad_item_is_shown_briefly() -> None:
    big = ["x" * 10_000]
    with pytest.raises(TypeError) as info:
        DataFetcher().fetch([big])  # type: ignore[list-item]
    assert len(str(info.value)) < 300


def test_httpx_urls_are_accepted() -> None:
    DataFetcher().fetch([httpx.URL("http://a.test/"), "http://b.test/"])
