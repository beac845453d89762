"""GitHub's rate-limit policy: ``X-RateLimit-*`` per resource, primary and secondary limits.

A refusal (403 or 429) with ``Retry-After`` -- or 429, or a message naming the secondary
limit or abuse detection -- asks to wait; one with ``X-RateLimit-Remaining: 0`` means the
token's quota for ``X-RateLimit-Resource`` (``core``, ``search``, ...) is spent until
``X-RateLimit-Reset`` (epoch seconds): the pool rotates or waits. ``/rate_limit`` is free.
"""

from __future__ import annotations

from core.operations.http import HeaderRateLimitPolicy

__all__ = ["GITHUB_RATE_LIMITS"]

GITHUB_RATE_LIMITS = HeaderRateLimitPolicy(
    resource_header="X-RateLimit-Resource",
    refusal_statuses=frozenset({403, 429}),
    wait_markers=("secondary rate limit", "abuse detection"),
    default_resource="core",
    free_paths=("/rate_limit",),
)
