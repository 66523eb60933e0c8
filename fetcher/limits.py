"""Per-request safety limits: a whole-request deadline, a body size cap, allowed schemes.

A fetcher pointed at arbitrary URLs must not hang on a server that never
answers, must not hold a multi-gigabyte body (or a compression bomb) in
memory, and must not be talked into ``file://`` or other non-HTTP schemes.
None of this is the kata's idiom, so it lives here, behind one call:
``Limits.session(client)`` gives the fetcher's workers ``get(url)``, which
returns a body or raises. Each limit turns the offending URL into a clear
error; the defaults are safe, ``None`` switches a limit off.
"""

from __future__ import annotations

import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import anyio
import httpx

__all__ = [
    "DEFAULT_ALLOWED_SCHEMES",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_TIMEOUT",
    "BodyTooLargeError",
    "Get",
    "Limits",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds for one whole request: connect, headers and the complete body."""

DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024
"""Bytes of decoded body kept per response (10 MiB)."""

DEFAULT_ALLOWED_SCHEMES = frozenset({"http", "https"})

CLOSE_GRACE = 5.0
"""Seconds a shielded close of a response may take: closing is local work (drop
a socket), so this only keeps a broken transport from hanging the block's exit."""

Get = Callable[[str], Awaitable[bytes]]
"""``get(url)``: the URL's decoded body, or an exception saying why not."""


class BodyTooLargeError(Exception):
    """A response body exceeded the fetcher's ``max_body_size``.

    Raised (into the URL's Result) as soon as the limit is crossed, so at
    most one network chunk (or one 64 KiB step of decompression) past the
    limit is ever held.
    """

    def __init__(self, url: str, limit: int, seen: int) -> None:
        self.url = url
        self.limit = limit
        self.seen = seen
        super().__init__(f"response body of {url} exceeds max_body_size={limit} bytes (got {seen})")


@dataclass(frozen=True)
class Limits:
    """Validated per-request limits (see the module docstring for why)."""

    timeout: float | None = DEFAULT_TIMEOUT
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE
    allowed_schemes: frozenset[str] = DEFAULT_ALLOWED_SCHEMES

    @classmethod
    def checked(cls, timeout: object, max_body_size: object, allowed_schemes: object) -> Limits:
        """Build from user input, raising TypeError/ValueError with a clear message."""
        return cls(
            timeout=_check_timeout(timeout),
            max_body_size=_check_max_body_size(max_body_size),
            allowed_schemes=_check_schemes(allowed_schemes),
        )

    @asynccontextmanager
    async def session(self, client: httpx.AsyncClient | None) -> AsyncIterator[Get]:
        """``get`` over *client*, or over an own client opened and closed around the block.

        The own client is httpx's, with httpx's transport and pool (and so
        ``HTTP_PROXY`` & co. from the environment) and its default TLS context
        (made once per process): it follows redirects, checking each hop's
        scheme. The workers bound concurrency, so its pool has no limit of its
        own. A given client is used as it is and left open.
        """
        if client is not None:
            yield partial(self.get, client)
            return

        async def check_hop(request: httpx.Request) -> None:
            self._check_scheme(request.url.scheme, str(request.url), request)

        async with httpx.AsyncClient(
            verify=_default_tls(),
            follow_redirects=True,
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
            event_hooks={"request": [check_hop]},
        ) as own:
            yield partial(self.get, own)

    async def get(self, client: httpx.AsyncClient, url: str) -> bytes:
        """GET *url* within the limits: its body, or an exception (never a hang)."""
        request = self._request(client, url)  # refused before anything is sent
        with anyio.move_on_after(self.timeout):
            response = await client.send(request, stream=True)
            try:
                response.raise_for_status()  # any non-2xx, a 3xx not followed included
                return await self._read_body(response)
            finally:
                # A body read to its end is closed already. Otherwise close it
                # shielded, so "the worker is done" implies "no request in flight".
                if not response.is_closed:
                    with anyio.move_on_after(CLOSE_GRACE, shield=True):
                        await response.aclose()
        # Only our own deadline gets here; a cancel from outside propagates.
        raise httpx.TimeoutException(
            f"no complete response from {url} within {self.timeout:g} s", request=request
        )

    def _request(self, client: httpx.AsyncClient, url: str) -> httpx.Request:
        """The request for *url*, unless it lacks an allowed scheme, a host or a valid port.

        The URL's own scheme wins: httpx treats host-less URLs such as
        ``file:///x``, ``mailto:x``, ``""`` or ``http://`` as relative and would
        merge them into a client's ``base_url``, quietly fetching that instead.
        """
        if not url.strip():
            raise httpx.InvalidURL(f"refusing to fetch {url!r}: the URL is empty")
        own = httpx.URL(url)  # InvalidURL for a malformed one
        request = client.build_request("GET", own)  # merged into the base_url, if any
        self._check_scheme(own.scheme or request.url.scheme, url, request)
        if not request.url.host or (own.scheme and not own.host):
            raise httpx.InvalidURL(f"refusing to fetch {url!r}: the URL has no host")
        port = request.url.port
        if port is not None and not 0 < port < 65536:
            raise httpx.InvalidURL(f"refusing to fetch {url!r}: port {port} is not in 1-65535")
        return request

    def _check_scheme(self, scheme: str, url: str, request: httpx.Request) -> None:
        if scheme not in self.allowed_schemes:
            allowed = ", ".join(sorted(self.allowed_schemes))
            shown = repr(scheme) if scheme else "no scheme"
            raise httpx.UnsupportedProtocol(
                f"refusing to fetch {url!r}: {shown} is not an allowed scheme (allowed: {allowed})",
                request=request,
            )

    async def _read_body(self, response: httpx.Response) -> bytes:
        """Read the decoded body chunk by chunk, stopping at ``max_body_size``.

        Counting decoded bytes (what we would keep) also stops a compression
        bomb, and with a limit the body is decoded here, in steps of bounded
        output: httpx would inflate a whole network chunk at once, and 600
        bytes of doubly gzipped zeros are 256 MiB. So with a limit only one
        layer of gzip or deflate is accepted (what the fetcher's own client
        asks for); anything else is a DecodingError. A Content-Length already
        over the limit fails before reading.
        """
        limit = self.max_body_size
        url = str(response.request.url)
        if response.is_stream_consumed:
            # Already read, e.g. by a given client's response hook: it is all in
            # memory, decoded, and only its size is left to check.
            body = response.content
            if limit is not None and len(body) > limit:
                raise BodyTooLargeError(url, limit, len(body))
            return body
        if limit is None:
            source, decoder = response.aiter_bytes(), _Inflate.identity()
        else:
            decoder = _Inflate.for_response(response, url)
            if decoder.coding is None:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise BodyTooLargeError(url, limit, int(declared))
            source = response.aiter_raw()
        chunks: list[bytes] = []
        seen = 0
        failure: Exception | None = None
        with anyio.CancelScope() as stop:
            async for raw in source:
                if failure is not None:
                    continue  # dropped: only waiting for the cancel to land
                try:
                    for piece in decoder.steps(raw):
                        seen += len(piece)
                        if limit is not None and seen > limit:
                            raise BodyTooLargeError(url, limit, seen)
                        chunks.append(piece)
                except Exception as exc:
                    # Not raised from here: leaving the loop would abandon
                    # httpx's chain of async generators mid-iteration, and each
                    # would be finalized later by a task of its own (the event
                    # loop's asyncgen finalizer) that outlives this fetch. The
                    # cancel lands in the chain's next network read instead and
                    # unwinds every generator in it, right here.
                    failure = exc
                    chunks.clear()
                    stop.cancel()
        if failure is None:
            try:
                tail = decoder.flush()
            except Exception as exc:
                failure = exc
            else:
                seen += len(tail)
                if limit is not None and seen > limit:
                    failure = BodyTooLargeError(url, limit, seen)
                chunks.append(tail)
        if failure is not None:
            raise failure
        return b"".join(chunks)


class _Inflate:
    """Decode at most one layer of gzip or deflate, in steps of bounded output.

    ``zlib``'s ``max_length`` caps each step, the rest of the input waits in
    ``unconsumed_tail``, so no step can allocate more than ``STEP`` bytes
    however compressible the input. Errors are httpx's DecodingError, as
    httpx's own decoders raise.
    """

    STEP = 64 * 1024

    def __init__(self, coding: str | None, request: httpx.Request | None) -> None:
        self.coding = coding
        self._request = request
        self._zlib: Any = None
        if coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        self._first = True

    @classmethod
    def identity(cls) -> _Inflate:
        return cls(None, None)

    @classmethod
    def for_response(cls, response: httpx.Response, url: str) -> _Inflate:
        header = response.headers.get("content-encoding", "")
        codings = [c.strip().lower() for c in header.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            return cls.identity()
        if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise httpx.DecodingError(
                f"refusing to decode the body of {url}: content-encoding {header!r} cannot be "
                "decoded within max_body_size (one layer of gzip or deflate can)",
                request=response.request,
            )
        return cls(codings[0], response.request)

    def steps(self, data: bytes) -> Iterator[bytes]:
        """*data* decoded, at most ``STEP`` bytes at a time."""
        if self._zlib is None:
            if data:
                yield data
            return
        while data:
            try:
                out = self._zlib.decompress(data, self.STEP)
            except zlib.error as exc:
                if self._first and self.coding == "deflate":
                    # Raw deflate without the zlib header: httpx accepts it too.
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first = False
                    continue
                raise httpx.DecodingError(str(exc), request=self._request) from exc
            self._first = False
            data = self._zlib.unconsumed_tail
            yield out

    def flush(self) -> bytes:
        """What is left once the input ended (small: a step leaves no output behind)."""
        if self._zlib is None:
            return b""
        try:
            return bytes(self._zlib.flush())
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc), request=self._request) from exc


@cache
def _default_tls() -> ssl.SSLContext:
    """httpx's default TLS context, built once: loading the CA bundle costs tens of ms a block."""
    return httpx.create_ssl_context()


def _check_timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"timeout must be a positive number of seconds or None, got {type(value).__name__}"
        )
    if not value > 0:  # also catches NaN
        raise ValueError(f"timeout must be a positive number of seconds or None, got {value!r}")
    return float(value)


def _check_max_body_size(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"max_body_size must be a positive int (bytes) or None, got {type(value).__name__}"
        )
    if value <= 0:
        raise ValueError(f"max_body_size must be a positive int (bytes) or None, got {value!r}")
    return value


def _check_schemes(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(
            "allowed_schemes must be a collection of scheme names such as {'https'}, "
            f"got {type(value).__name__}: {value!r}"
        )
    schemes: set[str] = set()
    for item in value:
        if not isinstance(item, str) or not item:
            raise TypeError(f"allowed_schemes items must be non-empty str, got {item!r}")
        schemes.add(item.lower())
    if not schemes:
        raise ValueError("allowed_schemes must not be empty: every URL would be refused")
    return frozenset(schemes)
