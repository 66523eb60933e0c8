"""Kata 17's answer: fetch URLs concurrently, stream the Results, leak no producer.

::

    async with DataFetcher(client, max_concurrency=10).fetch(urls) as results:
        async for r in results:
            ...

Go's rules, and the structure that keeps each one here:

* ``ctx.Done()`` is the block. Entering it starts the producers in a task
  group; leaving it by any route (end, ``break``, an exception, a cancel)
  cancels them and waits for them, so when ``__aexit__`` returns no producer
  is alive and no request is in flight. Not an async generator: a ``break``
  would leave one suspended with its producers running.
* Every send is cancel-aware: ``await send.send(r)`` either hands the result
  over or raises the cancellation, so no worker blocks on a consumer that left.
* Only producers close the channel, exactly once: each worker owns a
  ``clone()`` of the send stream and closes it as it exits; the stream ends
  when the last clone is closed. No code decides to close it, so nothing
  can close it twice (no ``sync.Once``).
* A URL's failure is its Result, never an exception that stops the others;
  the consumer's own exception comes out unchanged, never in an ExceptionGroup.
* Buffer: one slot per worker, so a finished worker starts its next fetch
  while the consumer is busy for a moment; more would only run further ahead.

Timeouts, size and scheme limits are in :mod:`fetcher.limits`; why each
piece is the way it is, in ``docs/fetcher-design.md``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType

import anyio
import httpx
from anyio.streams.memory import MemoryObjectSendStream

from .limits import DEFAULT_ALLOWED_SCHEMES, DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, Get, Limits
from .urls import prepare_urls

__all__ = ["DataFetcher", "Result"]


@dataclass(frozen=True)
class Result:
    """One URL's outcome, as given (an ``httpx.URL`` as its ``str()``): a body or an error.

    ``body`` is the whole body of a 2xx response. ``error`` is everything else
    (transport error, timeout, non-2xx as ``httpx.HTTPStatusError``, a refused
    or malformed URL, a body over the size limit); ``body`` is then None.
    """

    url: str
    body: bytes | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True for a successful fetch (``error`` is None)."""
        return self.error is None


class DataFetcher:
    """Fetch URLs concurrently; the constructor checks every option, so bad ones fail here."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        max_concurrency: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_body_size: int | None = DEFAULT_MAX_BODY_SIZE,
        allowed_schemes: Iterable[str] = DEFAULT_ALLOWED_SCHEMES,
    ) -> None:
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise TypeError(
                f"client must be an httpx.AsyncClient or None, got {type(client).__name__}"
            )
        if max_concurrency is not None:
            wrong_type = isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int)
            if wrong_type or max_concurrency < 1:
                raise (TypeError if wrong_type else ValueError)(
                    f"max_concurrency must be a positive int or None, got {max_concurrency!r}"
                )
        self._client = client
        self._max_concurrency = max_concurrency
        self._limits = Limits.checked(timeout, max_body_size, allowed_schemes)

    def fetch(
        self, urls: Iterable[str | httpx.URL]
    ) -> AbstractAsyncContextManager[AsyncIterator[Result]]:
        """The block that fetches *urls*; a bad item raises TypeError here, before any request."""
        source = prepare_urls(urls)
        bound = self._max_concurrency
        workers = source.count if bound is None else min(bound, source.count)
        # The one call into the limits: a session whose get(url) returns a body or raises.
        return _FetchBlock(self._limits.session(self._client), iter(source), workers)


class _FetchBlock(AbstractAsyncContextManager[AsyncIterator[Result]]):
    """One single-use fetch: the stream, the producers' task group and their stop scope."""

    def __init__(
        self, session: AbstractAsyncContextManager[Get], urls: Iterator[str], workers: int
    ) -> None:
        self._session, self._urls, self._workers = session, urls, workers
        self._entered = self.closed = False
        self._failure: BaseException | None = None

    async def __aenter__(self) -> AsyncIterator[Result]:
        if self._entered:
            raise RuntimeError("a fetch() block can be entered only once; call fetch() again")
        self._entered = True
        # The producers' ctx.Done(): made before they start, so leaving at once stops them too.
        self._stop = anyio.CancelScope()
        send, self._receive = anyio.create_memory_object_stream[Result](self._workers)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._produce, send, name="fetcher producer")
        return _Results(self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.cancel()
        cancelled = anyio.get_cancelled_exc_class()
        try:
            # As if the body succeeded: its exception must not pass through the
            # group (it would come out wrapped). Returning None re-raises it as is.
            await self._group.__aexit__(None, None, None)
        except cancelled:
            # Cancelled again while joining (the producers are finished now):
            # an error from the body says more than that.
            if exc is None or isinstance(exc, cancelled):
                raise
        finally:
            self.closed = True
            self._receive.close()  # after the join: nobody can be sending
        failure = self.take_failure()
        if exc is None and failure is not None:
            raise failure

    async def _produce(self, send: MemoryObjectSendStream[Result]) -> None:
        """Run the workers under the stop scope, in the client session."""
        # The shield keeps the consumer's cancellations away from the producers:
        # only the stop scope ends them (docs/fetcher-design.md says why).
        with anyio.CancelScope(shield=True), self._stop:
            async with self._session as get, anyio.create_task_group() as pool:
                with send:  # hand each worker its own clone, then drop ours
                    for index in range(self._workers):
                        name = f"fetcher worker {index}"
                        pool.start_soon(self._work, get, send.clone(), name=name)

    async def _work(self, get: Get, send: MemoryObjectSendStream[Result]) -> None:
        """One producer: take the next URL, fetch it, send its Result; repeat."""
        with send:  # this worker's clone: closing it is the worker's last act
            try:
                while not self._stop.cancel_called:  # stop before taking more work
                    url = next(self._urls, None)
                    if url is None:
                        return
                    try:
                        result = Result(url, body=await get(url))
                    except Exception as exc:  # the URL's failure is data, not our stop
                        result = Result(url, error=exc)
                    try:
                        send.send_nowait(result)  # room in the buffer: no need to wait
                    except anyio.WouldBlock:
                        await send.send(result)  # the cancel-aware send
            except (anyio.get_cancelled_exc_class(), GeneratorExit):
                raise
            except BaseException as exc:  # a bug, not a URL: stop all, re-raise it bare
                self._failure = self._failure or exc
                self._stop.cancel()

    def take_failure(self) -> BaseException | None:
        """A worker's unexpected exception, handed out once (to the reader or the exit)."""
        failure, self._failure = self._failure, None
        return failure


class _Results(AsyncIterator[Result]):
    """The consumer's view: an iterator and nothing else (nothing to close)."""

    def __init__(self, block: _FetchBlock) -> None:
        self._block = block

    async def __anext__(self) -> Result:
        if self._block.closed:
            raise RuntimeError("fetch() results can only be read inside their async with block")
        try:
            return await self._block._receive.receive()
        except anyio.EndOfStream:
            pass
        failure = self._block.take_failure()
        if failure is not None:
            raise failure
        raise StopAsyncIteration
