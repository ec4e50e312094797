"""Domain signals: a lower domain announces a change; a higher one, registered at start-up,
reacts in the same transaction. Lower domains never import the higher ones."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

Handler = Callable[..., None]
_handlers: dict[str, list[Handler]] = defaultdict(list)

CREDIT_PROFILE_CHANGED = "credit_profile_changed"
# Scores (and so tiers) were stored for customer_ids (None: everyone).
SCORES_STORED = "scores_stored"
# A duplicate customer was folded into a survivor: payload session, survivor_id, duplicate_id,
# actor_id (the user who merged), reason. The credit file's own rows and the events have moved
# already; each higher domain moves, recomputes or closes the per-customer state it keeps.
CUSTOMERS_MERGED = "customers_merged"


def subscribe(signal: str, handler: Handler) -> None:
    """Call ``handler(**payload)`` whenever ``signal`` is published (once per handler)."""
    if handler not in _handlers[signal]:
        _handlers[signal].append(handler)


def publish(signal: str, **payload: Any) -> None:
    """Run every handler of ``signal`` now, in the caller's transaction."""
    for handler in list(_handlers[signal]):
        handler(**payload)
