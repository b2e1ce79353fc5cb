"""A token bucket per API key, in memory (the redis-backed one: tests/integration/test_api_parties.py)."""

from __future__ import annotations

from services.broker.ratelimit import LocalBuckets, retry_after_s


def test_a_keys_bucket_gives_its_burst_then_one_request_per_refill() -> None:
    now = [100.0]
    buckets = LocalBuckets(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("key:a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("key:a") == 0.5 and retry_after_s(0.5) == 1
    assert buckets.take("key:b") == 0.0  # every key has a bucket of its own
    now[0] += 0.5
    assert buckets.take("key:a") == 0.0 and buckets.take("key:a") == 0.5
    now[0] += 60
    assert [buckets.take("key:a") for _ in range(4)][-1] > 0  # refilled to the burst, no further
