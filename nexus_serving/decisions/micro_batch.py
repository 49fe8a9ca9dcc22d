"""Micro-batching on the event loop: requests that arrive together are handled together.

A burst of requests read in one pass of the event loop starts one task each; every task
submits its item here and waits. The batch runs at the end of that loop iteration, after the
tasks of the same pass have submitted theirs, so nothing waits on a timer: a lone request
is handled in the next iteration, alone, and under load each batch is what arrived while the
previous one ran. It runs on the loop, like a single request did, so there is no thread hop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

Handler = Callable[[Sequence[Item]], Sequence[Result | Exception]]
"""Results in the items' order: a value, or the exception that item's caller gets."""


class MicroBatcher(Generic[Item, Result]):
    def __init__(self, handle: Handler[Item, Result], max_size: int) -> None:
        if max_size < 1:
            raise ValueError(f"max_size: must be at least 1, got {max_size}")
        self._handle = handle
        self._max_size = max_size
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []

    async def submit(self, item: Item) -> Result:
        """``item``'s result, once the batch it joins has run; raises what the handler gave it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) == 1:
            loop.call_soon(self._run)
        return await future

    def _run(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), self._max_size):
            batch = pending[start : start + self._max_size]
            try:
                results = self._handle([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(
                        f"batch handler returned {len(results)} results for {len(batch)} items"
                    )
            except Exception as exc:  # the handler's own failure is every item's
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # its caller has gone (cancelled)
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
