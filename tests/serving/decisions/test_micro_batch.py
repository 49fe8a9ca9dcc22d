"""The micro-batcher: what arrives in one pass of the loop is handled together, errors stay per item."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from nexus_serving.decisions.micro_batch import MicroBatcher


class Doubler:
    """A batch handler that records the batches it was given."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        return [ValueError(f"item {item} is bad") if item == self.fail_on else item * 2 for item in items]


@pytest.mark.parametrize(
    ("max_size", "batches"),
    [(32, [[0, 1, 2, 3, 4]]), (2, [[0, 1], [2, 3], [4]])],
    ids=["one-batch", "split-by-max-size"],
)
def test_requests_of_one_loop_pass_form_one_batch_in_order(max_size, batches):
    """A burst is one batch, cut into pieces of at most ``max_size``; results keep the callers' order."""
    handler = Doubler()

    async def burst() -> list[int]:
        batcher = MicroBatcher(handler, max_size=max_size)
        return await asyncio.gather(*(batcher.submit(i) for i in range(5)))

    assert asyncio.run(burst()) == [0, 2, 4, 6, 8]
    assert handler.batches == batches


def test_a_lone_request_runs_alone_and_later_ones_form_new_batches():
    handler = Doubler()

    async def one_by_one() -> list[int]:
        batcher = MicroBatcher(handler, max_size=32)
        return [await batcher.submit(i) for i in range(3)]

    assert asyncio.run(one_by_one()) == [0, 2, 4]
    assert handler.batches == [[0], [1], [2]]


def test_an_item_error_reaches_its_caller_only():
    handler = Doubler(fail_on=2)

    async def burst() -> list[int | BaseException]:
        batcher = MicroBatcher(handler, max_size=32)
        return await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)

    results = asyncio.run(burst())
    assert results[:2] == [0, 2] and results[3] == 6
    assert isinstance(results[2], ValueError) and "item 2" in str(results[2])


def test_a_failing_handler_fails_its_batch_and_the_next_batch_is_served():
    calls = []

    def flaky(items: Sequence[int]) -> list[int | Exception]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("models exploded")
        return [item for item in items]

    async def scenario() -> tuple[list[int | BaseException], int]:
        batcher = MicroBatcher(flaky, max_size=32)
        failed = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
        return failed, await batcher.submit(7)

    failed, served = asyncio.run(scenario())
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in failed)
    assert served == 7


def test_a_handler_returning_the_wrong_number_of_results_fails_loudly():
    async def scenario() -> list[int | BaseException]:
        batcher: MicroBatcher[int, int] = MicroBatcher(lambda items: [1], max_size=32)
        return await asyncio.gather(*(batcher.submit(i) for i in range(2)), return_exceptions=True)

    assert all(isinstance(r, RuntimeError) and "2 items" in str(r) for r in asyncio.run(scenario()))


def test_max_size_must_be_positive():
    with pytest.raises(ValueError, match="max_size"):
        MicroBatcher(Doubler(), max_size=0)
