"""The API's per-token token bucket, on a fake clock."""

from __future__ import annotations

import pytest

from cryptobot.api.ratelimit import RateLimiter, retry_after


def test_a_bucket_allows_its_burst_then_the_rate_and_keeps_tokens_apart() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one request back after 1/rate seconds
    assert limiter.take("b") == 0.0  # another token has its own bucket
    now[0] = 0.25
    assert limiter.take("a") == pytest.approx(0.25)  # a refused take consumes nothing
    now[0] = 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    now[0] = 100.0  # a long pause refills to the burst, no further
    assert [limiter.take("a") for _ in range(4)][-1] > 0


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(1.0) == "1"
    assert retry_after(4.2) == "5"
