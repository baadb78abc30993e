"""When to poll a feed next: its interval, spread by jitter, doubled per consecutive failure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Schedule:
    jitter: float = 0.1  # fraction of the delay, spread both ways
    max_backoff_seconds: float = 3600.0

    def next_delay(self, interval: float, failures: int, rand: float, at_least: float = 0.0) -> float:
        """Seconds until the next poll; ``rand`` in [0, 1) comes from the caller's RNG (testable).

        Jitter keeps many pollers (or many feeds on one host) from fetching in lock-step; backoff
        doubles the wait per consecutive failure, capped, so a dead feed costs a request an hour, not
        one per interval — but never waits less than the interval itself, nor less than a server's
        Retry-After (``at_least``, itself capped by the backoff bound).
        """
        base = interval
        if failures > 0:
            base = max(interval, min(interval * 2.0**failures, self.max_backoff_seconds))
        spread = 1.0 + self.jitter * (2.0 * rand - 1.0)
        return max(0.0, base * spread, min(at_least, self.max_backoff_seconds))
