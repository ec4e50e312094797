"""Merging two customers end to end, the same for the API and the browser.

The credit file folds the duplicate into the survivor and announces it (``CUSTOMERS_MERGED``):
each domain that keeps per-customer state moves, recomputes or closes it in the same
transaction. The imports below make sure every one of them is listening. Then the survivor's
early-warning rules run over its new picture, as they do after an intake batch.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from riskdesk.alerts import service as alert_service
from riskdesk.credit import service as _credit  # noqa: F401  (exposure, reservations, held orders)
from riskdesk.customers import service as customer_service
from riskdesk.indicators import service as _indicators  # noqa: F401  (snapshots)
from riskdesk.models import Customer
from riskdesk.policy import service as _policy  # noqa: F401  (limit requests, reviews)
from riskdesk.privacy import service as _privacy  # noqa: F401  (consents, legal holds)
from riskdesk.security.service import Principal


def merge_customers(
    session: Session, principal: Principal, *, survivor_id: int, duplicate_id: int, reason: str
) -> Customer:
    """Merge ``duplicate_id`` into ``survivor_id``; all or nothing, in the caller's transaction."""
    survivor = customer_service.merge_customers(
        session, principal, survivor_id=survivor_id, duplicate_id=duplicate_id, reason=reason
    )
    alert_service.evaluate(session, [survivor.id])
    return survivor
