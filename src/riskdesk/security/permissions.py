"""Roles, permissions and token scopes.

A role grants a set of permissions. An API token carries scopes; what a token may do is its
user's role permissions narrowed to the scopes. Row-level visibility (sales and customer service
see only their own or their team's customers) is a separate rule, applied by the repositories.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The six roles of Riskdesk."""

    CREDIT_MANAGER = "credit_manager"
    RISK_ANALYST = "risk_analyst"
    SALES = "sales"
    CUSTOMER_SERVICE = "customer_service"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    """What an endpoint may require."""

    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    CUSTOMERS_MERGE = "customers:merge"
    CREDIT_PROFILE_WRITE = "credit_profile:write"
    CHANGES_APPROVE = "changes:approve"
    DOCUMENTS_READ = "documents:read"
    DOCUMENTS_WRITE = "documents:write"
    EVENTS_READ = "events:read"
    EVENTS_WRITE = "events:write"
    SERVICE_EVENTS_WRITE = "service_events:write"
    INTERACTIONS_WRITE = "interactions:write"  # log calls, visits, e-mails on the credit file
    IMPORTS_RUN = "imports:run"
    USERS_READ = "users:read"
    USERS_MANAGE = "users:manage"
    TOKENS_MANAGE = "tokens:manage"
    CREDIT_CHECK = "credit_checks:run"
    CREDIT_DECISIONS_RESOLVE = "credit_decisions:resolve"
    EXPOSURE_MANAGE = "exposure:manage"
    CREDIT_POLICY_MANAGE = "credit_policy:manage"
    SCORING_MANAGE = "scoring:manage"
    LIMIT_REQUESTS_CREATE = "limit_requests:create"
    LIMIT_REQUESTS_APPROVE = "limit_requests:approve"
    REVIEWS_PERFORM = "reviews:perform"
    RULES_MANAGE = "rules:manage"
    ALERTS_WORK = "alerts:work"
    INTEGRATIONS_MANAGE = "integrations:manage"
    COMPLAINTS_WORK = "complaints:work"
    AUDIT_READ = "audit:read"
    ECL_READ = "ecl:read"  # expected credit loss: the provision matrix and its runs
    ECL_RUN = "ecl:run"  # compute and store a run; propose and decide adjustments
    PII_VIEW = "personal_data:view"
    PII_REVEAL = "personal_data:reveal"
    PRIVACY_MANAGE = "privacy:manage"
    SYSTEM_MONITOR = "system:monitor"  # metrics for Prometheus
    PORTFOLIO_READ = "portfolio:read"  # the portfolio dashboard (sales: own customers only)
    SETTINGS_MANAGE = "settings:manage"  # company settings: the display time zone


P = Permission

# Sales and customer service see only their own customers (row-level rule elsewhere).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CREDIT_MANAGER: frozenset(
        {
            P.CUSTOMERS_READ,
            P.CUSTOMERS_WRITE,
            P.CUSTOMERS_MERGE,
            P.CREDIT_PROFILE_WRITE,
            P.CHANGES_APPROVE,
            P.DOCUMENTS_READ,
            P.DOCUMENTS_WRITE,
            P.EVENTS_READ,
            P.EVENTS_WRITE,
            P.SERVICE_EVENTS_WRITE,
            P.INTERACTIONS_WRITE,
            P.IMPORTS_RUN,
            P.USERS_READ,
            P.CREDIT_CHECK,
            P.CREDIT_DECISIONS_RESOLVE,
            P.EXPOSURE_MANAGE,
            P.CREDIT_POLICY_MANAGE,
            P.SCORING_MANAGE,
            P.LIMIT_REQUESTS_CREATE,
            P.LIMIT_REQUESTS_APPROVE,
            P.REVIEWS_PERFORM,
            P.RULES_MANAGE,
            P.ALERTS_WORK,
            P.COMPLAINTS_WORK,
            P.PII_VIEW,
            P.PRIVACY_MANAGE,
            P.PORTFOLIO_READ,
            P.ECL_READ,
            P.ECL_RUN,
        }
    ),
    Role.RISK_ANALYST: frozenset(
        {
            P.CUSTOMERS_READ,
            P.CUSTOMERS_WRITE,
            P.CUSTOMERS_MERGE,
            P.CREDIT_PROFILE_WRITE,
            P.DOCUMENTS_READ,
            P.DOCUMENTS_WRITE,
            P.EVENTS_READ,
            P.EVENTS_WRITE,
            P.SERVICE_EVENTS_WRITE,
            P.INTERACTIONS_WRITE,
            P.IMPORTS_RUN,
            P.USERS_READ,
            P.CREDIT_CHECK,
            P.CREDIT_DECISIONS_RESOLVE,
            P.EXPOSURE_MANAGE,
            P.SCORING_MANAGE,
            P.LIMIT_REQUESTS_CREATE,
            P.LIMIT_REQUESTS_APPROVE,
            P.REVIEWS_PERFORM,
            P.RULES_MANAGE,
            P.ALERTS_WORK,
            P.COMPLAINTS_WORK,
            P.PII_VIEW,
            P.PORTFOLIO_READ,
            P.ECL_READ,
        }
    ),
    Role.SALES: frozenset(
        {
            P.CUSTOMERS_READ,
            P.CUSTOMERS_WRITE,
            P.DOCUMENTS_READ,
            P.DOCUMENTS_WRITE,
            P.EVENTS_READ,
            P.INTERACTIONS_WRITE,
            P.CREDIT_CHECK,
            P.LIMIT_REQUESTS_CREATE,
            P.ALERTS_WORK,
            P.PII_REVEAL,
            P.PORTFOLIO_READ,
        }
    ),
    Role.CUSTOMER_SERVICE: frozenset(
        {
            P.CUSTOMERS_READ,
            P.EVENTS_READ,
            P.SERVICE_EVENTS_WRITE,
            P.INTERACTIONS_WRITE,
            P.ALERTS_WORK,
            P.COMPLAINTS_WORK,
            P.PII_REVEAL,
        }
    ),
    Role.AUDITOR: frozenset(
        {
            P.CUSTOMERS_READ,
            P.DOCUMENTS_READ,
            P.EVENTS_READ,
            P.USERS_READ,
            P.AUDIT_READ,
            P.PII_VIEW,
            P.PORTFOLIO_READ,
            P.ECL_READ,
        }
    ),
    # Admin runs the system (users, tokens, intake for integrations) but owns no credit decisions.
    Role.ADMIN: frozenset(
        {
            P.CUSTOMERS_READ,
            P.EVENTS_READ,
            P.EVENTS_WRITE,
            P.SERVICE_EVENTS_WRITE,
            P.IMPORTS_RUN,
            P.USERS_READ,
            P.USERS_MANAGE,
            P.TOKENS_MANAGE,
            P.CREDIT_CHECK,
            P.INTEGRATIONS_MANAGE,
            P.SYSTEM_MONITOR,
            P.PORTFOLIO_READ,
            P.SETTINGS_MANAGE,
        }
    ),
}

# Roles whose customer lists are limited to what they or their team own.
OWN_CUSTOMERS_ONLY: frozenset[Role] = frozenset({Role.SALES, Role.CUSTOMER_SERVICE})

# Scopes are permission names; these bundles make `riskdesk users token --scope` convenient.
SCOPE_BUNDLES: dict[str, frozenset[Permission]] = {
    "read": frozenset(p for p in Permission if p.value.endswith(":read")),
    "intake": frozenset(
        {
            P.CUSTOMERS_READ,
            P.CUSTOMERS_WRITE,
            P.EVENTS_READ,
            P.EVENTS_WRITE,
            P.SERVICE_EVENTS_WRITE,
            P.IMPORTS_RUN,
            P.CREDIT_CHECK,
        }
    ),
}


def permissions_for(role: str) -> frozenset[Permission]:
    """The permissions a role grants (none for an unknown role)."""
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def parse_scopes(values: list[str]) -> frozenset[Permission]:
    """Turn scope names or bundle names into permissions; unknown names raise ValueError."""
    result: set[Permission] = set()
    for value in values:
        if value in SCOPE_BUNDLES:
            result |= SCOPE_BUNDLES[value]
        else:
            result.add(Permission(value))
    return frozenset(result)
