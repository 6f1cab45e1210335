"""How long a batch waits before each retry after a transient fault, and for how many.

Exponential backoff with jitter: the first retry waits `first_delay` seconds, each next
one twice as long, at most `MAX_DELAY_SECONDS`, each within +-50% so that batches hit by
the same outage do not come back in step. The settings' defaults (8 retries from 1 s)
wait about three minutes in all: enough to ride out a database failover or restart.
"""

import random
from dataclasses import dataclass

MAX_DELAY_SECONDS = 60.0


@dataclass(frozen=True)
class RetryBudget:
    """At most `retries` retries, the first after about `first_delay` seconds."""

    retries: int
    first_delay: float

    def nominal_delay(self, retry_number: int) -> float:
        """The delay before retry `retry_number` + 1 (0-based), without jitter."""
        return min(self.first_delay * 2.0**retry_number, MAX_DELAY_SECONDS)

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """The delay before retry `retry_number` + 1, with +-50% jitter."""
        spread = (rng or random).uniform(0.5, 1.5)
        return self.nominal_delay(retry_number) * spread

    @property
    def total_seconds(self) -> float:
        """How long all the retries wait together, without jitter."""
        return sum(self.nominal_delay(number) for number in range(self.retries))

    def exhausted(self, retry_number: int) -> bool:
        """Whether an attempt with `retry_number` earlier attempts may not be retried."""
        return retry_number >= self.retries
