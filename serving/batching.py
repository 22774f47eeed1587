"""Micro-batching: posts from concurrent requests are scored together, one batch at a time.

A request's posts join a queue. One task takes what is queued (waiting at most
`max_wait_ms` for more while the batch is below `max_size`), scores it in the model thread
with `ToxicityScorer.score` (the batch pipeline's function, so scores are identical) and hands
each request its results. While a batch is scored, new requests queue up and form the next
one, so throughput grows with load; a lone client (one request per batch) never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.toxicity.scoring import PostScore, SpanMode
    from serving.loaded_models import Loaded


YIELDS = 3


@dataclass
class Pending:
    """One request's posts waiting to be scored."""

    texts: list[str]
    langs: list[str | None]
    spans: SpanMode
    future: asyncio.Future[tuple[list[PostScore], Loaded]] = field(repr=False)


class MicroBatcher:
    """Collects posts from concurrent requests and scores them in batches in one thread."""

    def __init__(
        self,
        model: Callable[[], Loaded | None],
        max_size: int,
        max_wait_ms: float,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.model = model
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000
        self.on_batch = on_batch
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        # One thread: batches never compete with each other for the 2 cores.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="steward-model")
        self.task: asyncio.Task[None] | None = None
        self.last_requests = 0  # requests in the previous batch: a sign of concurrent traffic

    def start(self) -> None:
        """Start the batching task on the running loop."""
        self.task = asyncio.get_running_loop().create_task(self._run(), name="steward-batcher")

    async def stop(self) -> None:
        """Stop the task and the model thread."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.executor.shutdown(wait=True)

    async def score(
        self, texts: Sequence[str], langs: Sequence[str | None], spans: SpanMode
    ) -> tuple[list[PostScore], Loaded]:
        """Scores of these posts (in order) and the model that gave them."""
        future: asyncio.Future[tuple[list[PostScore], Loaded]] = (
            asyncio.get_running_loop().create_future()
        )
        await self.queue.put(Pending(list(texts), list(langs), spans, future))
        return await future

    async def _run(self) -> None:
        """Take batches off the queue forever."""
        while True:
            batch = await self._collect()
            await self._score(batch)

    async def _collect(self) -> list[Pending]:
        """The next batch: whatever is queued, plus arrivals within max_wait while small.

        The wait applies only under concurrent traffic (this or the last batch joined several
        requests): a lone client never waits for company that is not coming.
        """
        batch = [await self.queue.get()]
        size = len(batch[0].texts)
        if self.last_requests > 1:
            # Under concurrent traffic, let requests already read off the sockets reach the
            # queue (a few loop turns, no timer) before the model thread takes the GIL.
            for _ in range(YIELDS):
                await asyncio.sleep(0)
        while size < self.max_size and not self.queue.empty():
            batch.append(self.queue.get_nowait())
            size += len(batch[-1].texts)
        busy = len(batch) > 1 or self.last_requests > 1
        deadline = time.perf_counter() + self.max_wait
        while busy and size < self.max_size:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                item = await asyncio.wait_for(self.queue.get(), left)
            except TimeoutError:
                break
            batch.append(item)
            size += len(item.texts)
        self.last_requests = len(batch)
        return batch

    async def _score(self, batch: list[Pending]) -> None:
        """Score one batch (grouped by span mode) and resolve each request's future."""
        model = self.model()
        live = [p for p in batch if not p.future.done()]  # a client may have gone away
        if model is None:
            for p in live:
                p.future.set_exception(RuntimeError("no toxicity model is loaded"))
            return
        loop = asyncio.get_running_loop()
        for mode in {p.spans for p in live}:
            group = [p for p in live if p.spans == mode]
            try:
                scores = await loop.run_in_executor(self.executor, self._score_group, model, group)
            except Exception as exc:  # hand the failure to the requests, keep batching
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            start = 0
            for p in group:
                part = scores[start : start + len(p.texts)]
                start += len(p.texts)
                if not p.future.done():
                    p.future.set_result((part, model))

    def _score_group(self, model: Loaded, group: list[Pending]) -> list[PostScore]:
        """Runs in the model thread: one scorer call for the whole group."""
        texts = [t for p in group for t in p.texts]
        langs: list[Any] = [lg for p in group for lg in p.langs]
        started = time.perf_counter()
        scores: list[PostScore] = model.scorer.score(texts, langs, group[0].spans)
        if self.on_batch is not None:
            self.on_batch(len(texts), time.perf_counter() - started)
        return scores
