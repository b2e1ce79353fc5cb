"""Per-API-key rate limits: a token bucket per key, kept in the broker's redis.

Each key holds up to ``burst`` tokens, refilled at ``rate_per_s``; a request takes one. The bucket
lives in redis (one Lua script reads, refills and takes atomically, on redis's clock), so every API
process shares it. While redis cannot be reached, each process keeps buckets of its own in memory
(the limit then holds per process) and tries redis again after a few seconds. Buckets are keyed by
the requester's digest, never by the key itself.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "merit:rate:"
RETRY_REDIS_S = 5.0

# KEYS[1] bucket; ARGV rate per second, burst. Returns {taken (0/1), seconds to wait (string)}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local taken = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, tostring(wait)}
"""


class LocalBuckets:
    """The same buckets in this process's memory."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # who -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0.0 when a token was taken, else the seconds until one is there."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(who, (self._burst, now))
            tokens = min(self._burst, tokens + max(0.0, now - at) * self._rate)
            if tokens >= 1:
                self._buckets[who] = (tokens - 1, now)
                return 0.0
            self._buckets[who] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget full buckets: they read as new ones
                full = [
                    k
                    for k, (t, a) in self._buckets.items()
                    if t + (now - a) * self._rate >= self._burst
                ]
                for k in full:
                    del self._buckets[k]
            return (1 - tokens) / self._rate


class RateLimiter:
    """Token buckets per requester in redis at ``redis_url`` (None: in memory only)."""

    def __init__(self, rate_per_s: float, burst: int, redis_url: str | None) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._local = LocalBuckets(rate_per_s, burst)
        self._redis = (
            redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
            if redis_url and redis_url.startswith(("redis://", "rediss://", "unix://"))
            else None
        )
        self._script = self._redis.register_script(_TAKE) if self._redis is not None else None
        self._down_until = 0.0

    def take(self, who: str) -> float:
        """0.0 when ``who`` may make this request, else the seconds until it may make one."""
        if self._script is not None and time.monotonic() >= self._down_until:
            try:
                taken, wait = self._script(keys=[PREFIX + who], args=[self.rate_per_s, self.burst])
                return 0.0 if int(taken) else float(wait)
            except RedisError as exc:
                self._down_until = time.monotonic() + RETRY_REDIS_S
                log.warning("rate limits kept in this process: redis unreachable (%s)", exc)
        return self._local.take(who)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


def retry_after_s(wait_s: float) -> int:
    """Retry-After's whole seconds: at least 1."""
    return max(1, math.ceil(wait_s))
