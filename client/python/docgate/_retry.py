"""The retry policy: UNAVAILABLE only, with jittered exponential backoff, within the
call's deadline. Used for reads and for creates (whose id is fixed before the first
attempt, so a retried create is idempotent); never for status updates."""
from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Awaitable, Callable, TypeVar

import grpc

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 30  # in practice the deadline ends the retries first
    initial_backoff: float = 0.05
    max_backoff: float = 1.0

    def delays(self):
        """Full-jitter delays: a fleet of clients does not come back in lockstep."""
        ceiling = self.initial_backoff
        for _ in range(self.max_attempts - 1):
            yield random.uniform(ceiling / 2, ceiling)
            ceiling = min(ceiling * 2, self.max_backoff)


NO_RETRY = RetryPolicy(max_attempts=1)


def _backoff(error: grpc.RpcError, delays, deadline: float) -> float:
    """How long to wait before the next attempt after `error`; raises it when there
    is none (not UNAVAILABLE, no attempt left, or past the deadline by then)."""
    if error.code() != grpc.StatusCode.UNAVAILABLE:
        raise error
    delay = next(delays, None)
    if delay is None or time.monotonic() + delay >= deadline:
        raise error
    return delay


def call_with_retry(attempt: Callable[[float], T], timeout: float, policy: RetryPolicy) -> T:
    """Runs attempt(time_left) until it succeeds, fails with something other than
    UNAVAILABLE, runs out of attempts, or the deadline would pass during the backoff."""
    deadline = time.monotonic() + timeout
    delays = policy.delays()
    while True:
        try:
            return attempt(max(deadline - time.monotonic(), 0.001))
        except grpc.RpcError as error:
            time.sleep(_backoff(error, delays, deadline))


async def call_with_retry_async(attempt: Callable[[float], Awaitable[T]], timeout: float, policy: RetryPolicy) -> T:
    """call_with_retry for coroutines: the same rules, waiting with asyncio.sleep."""
    deadline = time.monotonic() + timeout
    delays = policy.delays()
    while True:
        try:
            return await attempt(max(deadline - time.monotonic(), 0.001))
        except grpc.RpcError as error:
            await asyncio.sleep(_backoff(error, delays, deadline))
