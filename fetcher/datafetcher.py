"""DataFetcher: fetch many URLs concurrently, stream the Results, leak nothing.

::

    async with DataFetcher(client, max_concurrency=10).fetch(urls) as results:
        async for r in results:
            ...

Why this shape is Go's kata answer, in Python
---------------------------------------------
Go's version returns ``<-chan Result`` and relies on discipline: a closer
goroutine that runs ``wg.Wait(); close(out)`` ("only the producer closes the
channel"), and ``select { case out <- r: case <-ctx.Done(): return }`` on every
send, so a producer never blocks forever on a consumer that left. Here each
rule is a property of the structure instead of a habit:

* **The block is the context.** ``fetch()`` returns an async context
  manager. Entering it starts the producers in a task group; leaving it, by
  any route (end of iteration, ``break``, an exception, cancellation of any
  enclosing scope), cancels them and then *waits* for them: a task group
  cannot be exited while one of its tasks is alive. So "when ``__aexit__``
  returns, every producer has finished and no request is in flight" is not a
  promise kept by careful code, it is what a task group's exit means.
  ``ctx.Done()`` is the block's stop scope.

* **Select on every send, by construction.** In anyio every ``await`` is a
  cancellation point: a send that has to wait, ``await send.send(r)``,
  either hands the result over or raises the cancellation the moment the
  stop scope is cancelled. The ``<-ctx.Done()`` case cannot be forgotten
  because it is not written. (A send that finds room in the buffer is
  ``send_nowait``: like a Go ``select`` with both cases ready, either
  outcome is correct, and it saves a trip through the event loop.)

* **Only producers close, exactly once, structurally.** Each worker owns
  one ``clone()`` of the send stream and closes it with ``with send:`` as it
  exits, whatever the reason (input exhausted, cancelled, failed); the
  block's own handle is dropped as soon as the clones exist. The consumer
  sees end-of-stream exactly when the last clone closes, i.e. after the last
  producer. No code *decides* to close the channel, so nothing can close it
  twice or early (Go's ``sync.Once`` is not needed), and the consumer gets a
  bare iterator with nothing to close. The receive end is closed only after
  the task group has joined, so no producer ever meets a
  BrokenResourceError.

* **An async generator is not enough.** ``async def fetch(urls): ... yield r``
  looks simpler, but a ``break`` out of ``async for`` does not close the
  generator: it stays suspended at ``yield`` with its task group open, and
  its producers run on (or block on a send forever: the forgotten sender)
  until garbage collection finalizes it, later, in another context, where
  anyio refuses to exit a cancel scope from a different task. Even closing
  it by hand goes wrong: the GeneratorExit thrown in at the ``yield`` comes
  out of the task group as an ExceptionGroup. Yielding from inside a task
  group also runs the consumer's code inside the generator's cancel scope
  (PEP 789; trio's ASYNC119). ``contextlib.aclosing`` would fix only the
  first problem; a context manager makes the lifetime a block.
  (``tests/fetcher/test_why_not_a_generator.py`` shows the leak.)

Cancellation and exceptions keep their meaning
----------------------------------------------
The consumer's task is never cancelled by the fetcher: producers live under
a separate stop scope that only they are inside, behind a shield that keeps
the consumer's cancellations from reaching them by any route other than the
block's exit (which is immediate: the consumer's next await is cancelled,
and that leaves the block). So an anyio scope around the block catches its
own cancel, ``asyncio.timeout`` raises TimeoutError, ``Task.cancel()`` ends
the task cancelled, all exactly as without the fetcher. (On Python 3.10,
asyncio cannot count cancellations, so a native cancel landing in the same
loop turn as an anyio scope's cancel is absorbed by that scope: anyio's
limitation, with or without a fetcher.)

The body's exception never passes through the task group (the group is
exited as if the body had succeeded, then Python re-raises the body's
exception itself), and no producer ever raises into the group (a URL's
failure is its Result; anything else is stashed and re-raised bare), so
there is never an ExceptionGroup to unwrap: the caller gets the very same
exception object, KeyboardInterrupt and SystemExit included.

Bounded concurrency, memory, buffer
-----------------------------------
``max_concurrency=k`` starts ``min(k, N)`` workers that each pull the next
URL from one shared iterator (see :mod:`fetcher.urls` for how the input is
validated up front yet consumed lazily); ``None`` starts one worker per URL.
Live tasks are therefore O(workers): 100,000 URLs at 64 hold 64 workers plus
one producer, never 100,000 tasks.

The stream buffer holds one Result per worker. A worker whose result is
done hands it off and starts its next fetch even if the consumer is busy for
a moment, so the pool stays at the bound, and a smaller one would let every
pause of the consumer idle a worker. A larger one would only let the
workers run further ahead of a consumer that is slower than the network:
more memory, no more throughput, since that consumer is the bottleneck.
Memory is bounded by 2 x workers bodies (one buffered per worker, one held
by each worker while fetching or waiting to send), each at most
``max_body_size``.
Results still buffered when the block is left are dropped with the stream.

Options
-------
``timeout`` (seconds for one whole request, default 30), ``max_body_size``
(decoded bytes, default 10 MiB) and ``allowed_schemes`` (default http and
https): see :mod:`fetcher.limits`. With ``client=None`` the fetcher opens its
own ``httpx.AsyncClient`` for the block (following redirects, re-checking the
scheme of every hop) and closes it on exit; a given client is used for every
request and left open. Keep ``max_concurrency`` at or below a given client's
``max_connections``, or requests queue in its pool.

The own client's transport is :class:`fetcher.transport.FetcherTransport`: a
connection per request and an idle stack per origin, instead of httpx's
shared pool, whose bookkeeping in httpcore 1.0.9 costs O(requests in flight)
per request and per cancellation. Since the workers already bound
concurrency, no request ever has to wait for a connection, and cancelling N
fetches costs N times one. A given client keeps its own pool (and its cost),
and so does the own client when the environment sets a proxy (httpx honours
``HTTP_PROXY`` & co. only with its own transports).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from urllib.request import getproxies

import anyio
import httpx
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .fetch_one import CLOSE_GRACE, fetch_one
from .limits import DEFAULT_ALLOWED_SCHEMES, DEFAULT_MAX_BODY_SIZE, DEFAULT_TIMEOUT, Limits
from .result import Result
from .transport import FetcherTransport
from .urls import UrlSource, prepare_urls

__all__ = ["DataFetcher"]


class DataFetcher:
    """Fetch URLs concurrently; see the module docstring for the design.

    The constructor validates everything, so a misconfiguration fails here,
    not in the middle of a fetch.
    """

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
        self._client = client
        self._max_concurrency = _check_max_concurrency(max_concurrency)
        self._limits = Limits.checked(timeout, max_body_size, allowed_schemes)

    def fetch(
        self, urls: Iterable[str | httpx.URL]
    ) -> AbstractAsyncContextManager[AsyncIterator[Result]]:
        """Return the block that fetches *urls*; fetching starts on entering it.

        *urls* is checked completely here: a non-iterable, or an item that is
        not a str or httpx.URL, raises TypeError naming it before anything is
        fetched. Each call gives a new, single-use block.
        """
        source = prepare_urls(urls)
        bound = self._max_concurrency
        workers = source.count if bound is None else min(bound, source.count)
        return _FetchBlock(self._client, source, workers, self._limits)


def _check_max_concurrency(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_concurrency must be a positive int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"max_concurrency must be a positive int or None, got {value!r}")
    return value


class _FetchBlock(AbstractAsyncContextManager[AsyncIterator[Result]]):
    """One fetch: owns the stream, the producers' task group and the stop scope."""

    def __init__(
        self,
        client: httpx.AsyncClient | None,
        source: UrlSource,
        workers: int,
        limits: Limits,
    ) -> None:
        self._given_client = client
        self._source = source
        self._workers = workers
        self._limits = limits
        self._entered = False
        self._closed = False
        self._failure: BaseException | None = None
        self._failure_raised = False

    async def __aenter__(self) -> AsyncIterator[Result]:
        if self._entered:
            raise RuntimeError("a fetch() block can be entered only once; call fetch() again")
        self._entered = True
        if self._given_client is not None:
            client, owned = self._given_client, False
        else:
            client, owned = self._new_client(), True
        # Buffer: one slot per worker; the module docstring says why.
        send, receive = anyio.create_memory_object_stream[Result](self._workers)
        self._receive: MemoryObjectReceiveStream[Result] = receive
        # The producers' ctx.Done(): only the producer task is inside it, so
        # cancelling it never touches the consumer's task.
        self._stop = anyio.CancelScope()
        self._group: TaskGroup = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._produce, client, owned, send, name="fetcher producer")
        return _Results(receive, self)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.cancel()
        cancelled = anyio.get_cancelled_exc_class()
        try:
            # Exit as if the body succeeded: the body's exception must not
            # go through the group (it would come out wrapped). Returning
            # None below lets Python re-raise that very exception.
            await self._group.__aexit__(None, None, None)
        except cancelled:
            # Cancelled again while waiting for the producers (who are now
            # finished: the group has exited). A real error from the body
            # says more than a cancellation, as in a trio nursery.
            if exc is None or isinstance(exc, cancelled):
                raise
        finally:
            self._closed = True
            self._receive.close()  # after the join: no producer can be sending
        if exc is None and self._failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise self._failure

    def _new_client(self) -> httpx.AsyncClient:
        limits = self._limits

        async def check_hop(request: httpx.Request) -> None:
            limits.check_scheme(request)  # a redirect must not leave the allowed schemes

        return httpx.AsyncClient(
            follow_redirects=True,
            timeout=httpx.Timeout(limits.timeout),
            # The workers bound concurrency, so requests never need to queue
            # for a connection: a connection per request, no shared pool (whose
            # bookkeeping is O(in-flight) per request and per cancellation in
            # httpcore 1.0.9; see fetcher.transport), and at most one idle
            # connection per worker. But httpx honours proxies from the
            # environment (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY) only when it
            # builds the transport itself: with one set, it keeps its own.
            transport=(
                None if _environment_proxies() else FetcherTransport(max_keepalive=self._workers)
            ),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
            event_hooks={"request": [check_hop]},
        )

    async def _produce(
        self, client: httpx.AsyncClient, owned: bool, send: MemoryObjectSendStream[Result]
    ) -> None:
        """Run the worker pool under the stop scope, then close our own client."""
        urls = iter(self._source)
        try:
            # Producers stop through the stop scope only, never through the
            # consumer's scopes: the shield keeps the two scope trees apart.
            # Without it, anyio's asyncio backend (4.16) hands the stop scope's
            # pending uncancel() calls, made for *this* task, to the consumer's
            # task-group scope when that is cancelled too, and the consumer's
            # task then loses a native Task.cancel() (seen by the close
            # discipline scenario: TimeoutError instead of cancelled).
            with anyio.CancelScope(shield=True), self._stop:
                async with anyio.create_task_group() as pool:
                    # Hand each worker its own clone, then drop ours: from here
                    # on the stream is open exactly as long as a worker is.
                    with send:
                        for index in range(self._workers):
                            name = f"fetcher worker {index}"
                            pool.start_soon(self._work, client, urls, send.clone(), name=name)
        finally:
            if owned:
                # Shielded: leaving the block must close the connections even
                # while being cancelled; bounded, so it can never hang.
                with anyio.move_on_after(CLOSE_GRACE, shield=True):
                    await client.aclose()

    async def _work(
        self, client: httpx.AsyncClient, urls: Iterator[str], send: MemoryObjectSendStream[Result]
    ) -> None:
        """One producer: take the next URL, fetch it, send its Result; repeat."""
        with send:  # this worker's clone; closing it is the worker's last act
            try:
                # Stop before taking more work, not only while waiting.
                while not self._stop.cancel_called:
                    url = next(urls, None)
                    if url is None:
                        return
                    result = await fetch_one(client, url, self._limits)
                    try:
                        send.send_nowait(result)  # room in the buffer: no wait
                    except anyio.WouldBlock:
                        await send.send(result)  # the cancel-aware send
            except anyio.get_cancelled_exc_class():
                raise
            except GeneratorExit:
                raise
            except BaseException as exc:  # never into the group: stash, stop, re-raise bare
                self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._stop.cancel()

    def _take_failure(self) -> BaseException | None:
        if self._failure is None or self._failure_raised:
            return None
        self._failure_raised = True
        return self._failure


def _environment_proxies() -> bool:
    """Does the environment ask for a proxy (what httpx reads: urllib's getproxies)?"""
    return any(scheme in getproxies() for scheme in ("http", "https", "all"))


class _Results(AsyncIterator[Result]):
    """The consumer's view: an iterator and nothing else (nothing to close)."""

    def __init__(self, receive: MemoryObjectReceiveStream[Result], block: _FetchBlock) -> None:
        self._receive = receive
        self._block = block

    def __aiter__(self) -> _Results:
        return self

    async def __anext__(self) -> Result:
        if self._block._closed:
            raise RuntimeError("fetch() results can only be read inside their async with block")
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            pass
        failure = self._block._take_failure()
        if failure is not None:
            raise failure
        raise StopAsyncIteration
