"""All ORM classes, one module per aggregate; importing this registers them with Base."""

from riskdesk.models.credit import (
    CreditCheckRule,
    CreditDecision,
    CreditExposure,
    ExposureCategory,
    SpecialExposure,
)
from riskdesk.models.customers import (
    Contact,
    CreditFileChange,
    CreditFileVersion,
    CreditProfile,
    CreditReport,
    Customer,
    CustomerExternalRef,
    CustomerGroup,
    DemoBehaviour,
    Document,
    FinancialStatement,
    PendingChange,
    PendingChangeItem,
)
from riskdesk.models.events import (
    Complaint,
    Contract,
    Interaction,
    Invoice,
    Order,
    OrderLine,
    Payment,
    Return,
    SurveyResponse,
)
from riskdesk.models.imports import ImportJob
from riskdesk.models.indicators import IndicatorSnapshot
from riskdesk.models.security import ApiToken, User, UserSession

__all__ = [
    "ApiToken",
    "Complaint",
    "Contact",
    "Contract",
    "CreditCheckRule",
    "CreditDecision",
    "CreditExposure",
    "CreditFileChange",
    "CreditFileVersion",
    "CreditProfile",
    "CreditReport",
    "Customer",
    "CustomerExternalRef",
    "CustomerGroup",
    "DemoBehaviour",
    "Document",
    "ExposureCategory",
    "FinancialStatement",
    "ImportJob",
    "IndicatorSnapshot",
    "Interaction",
    "Invoice",
    "Order",
    "OrderLine",
    "Payment",
    "PendingChange",
    "PendingChangeItem",
    "Return",
    "SpecialExposure",
    "SurveyResponse",
    "User",
    "UserSession",
]
