"""Who may see an alert: whoever may see its customer; a product alert (no customer) everyone
who works alerts except sales. Kept apart from ``service`` so that playbooks, which the
service calls when it raises alerts, can check visibility without importing the service."""

from __future__ import annotations

from sqlalchemy.orm import Session

from riskdesk.customers import service as customer_service
from riskdesk.kit.errors import NotFound
from riskdesk.models import Alert
from riskdesk.security.service import Principal


def sees_product_alerts(principal: Principal) -> bool:
    """Whether the caller sees product-level alerts (those with no customer)."""
    return not principal.own_customers_only or principal.user.role == "customer_service"


def check_visible(
    session: Session, principal: Principal, alert: Alert, missing: NotFound | None = None
) -> None:
    """A customer's alert is visible to whoever may see the customer. A product alert (no
    customer) to everyone who works alerts, except sales, whose view is their own customers.
    Hidden, it answers ``missing`` (what the caller asked for, missing): never the customer."""
    missing = missing or NotFound(f"no alert {alert.id}", field="alert_id")
    if alert.customer_id is not None:
        customer_service.ensure_visible(session, principal, alert.customer_id, missing)
    elif not sees_product_alerts(principal):
        raise missing
