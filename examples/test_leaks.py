"""What `pytest --leakcheck` catches, in four short tests (two leak on purpose).

Run: pytest --leakcheck examples
"""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

stop = threading.Event()


def consume(events: threading.Event) -> None:
    events.wait()  # nobody ever sets it


def test_forgotten_consumer():
    """A thread the test started and never stopped: the report shows where it waits."""
    threading.Thread(target=consume, args=(stop,), name="consumer", daemon=True).start()


def test_forgotten_sender():
    """Go's forgotten sender: a producer blocked on a full queue nobody reads.

    asyncio.run() cancels it silently when it closes the loop; leakcheck reports it.
    """

    async def produce(queue: asyncio.Queue[int]) -> None:
        for i in range(10):
            await queue.put(i)

    async def main() -> None:
        asyncio.create_task(produce(asyncio.Queue(maxsize=1)), name="sender")  # noqa: RUF006
        await asyncio.sleep(0)

    asyncio.run(main())


def test_joined_thread_is_fine():
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()


def test_idle_pool_worker_is_fine():
    """An idle worker belongs to its pool, not to the test that made the pool grow."""
    pool = ThreadPoolExecutor(max_workers=1)
    assert pool.submit(sum, [1, 2]).result() == 3
