"""The top navigation: a few links used all day, and menus of related pages.

Each link carries the permission its page itself checks (any one of ``needs``), so a role sees
only what it may open; a menu with nothing left in it is not shown. Some links are narrower
than their page (the policy editors and the user list are readable more widely, but shown only
to those who act on them), as the navigation was before it had menus.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from riskdesk.security.permissions import Permission as P
from riskdesk.ui.render import templates


@dataclass(frozen=True)
class Link:
    """A page in the navigation."""

    href: str
    label: str  # catalogue key
    id: str
    needs: tuple[str, ...] = ()  # any one of these; none: everyone signed in
    prefix: tuple[str, ...] = ()  # paths that mark it active (default: its href)

    def active(self, path: str) -> bool:
        """Whether the page shown is this link's page (or one under it)."""
        if self.href == "/":
            return path == "/" or path.startswith("/home")
        return any(path.startswith(p) for p in (self.prefix or (self.href,)))


@dataclass(frozen=True)
class Menu:
    """Related pages behind one drop-down."""

    key: str
    label: str
    links: tuple[Link, ...]


READ = (P.CUSTOMERS_READ.value,)
# Narrower than their pages (readable with customers:read, and linked from the alerts and
# scores that cite them): in the menus of those who maintain them and of auditors, not of
# sales and service, who would find pages they cannot act on.
RULES = (P.RULES_MANAGE.value, P.AUDIT_READ.value)
SCORING = (P.SCORING_MANAGE.value, P.AUDIT_READ.value)
# Credit-file changes waiting for a second person: those who make them, approve them or audit.
AUTHORS = (P.CUSTOMERS_WRITE.value, P.CHANGES_APPROVE.value, P.AUDIT_READ.value)

NAV: tuple[Link | Menu, ...] = (
    Link("/", "nav.home", "nav-home"),
    Link("/portfolio", "nav.portfolio", "nav-portfolio", (P.PORTFOLIO_READ.value,)),
    Link("/customers", "nav.customers", "nav-customers", READ),
    Link("/alerts", "nav.alerts", "nav-alerts", READ),
    Link("/complaints", "nav.complaints", "nav-complaints", (P.COMPLAINTS_WORK.value,)),
    Menu(
        "credit",
        "nav.menu.credit",
        (
            Link("/worklist", "nav.worklist", "nav-worklist", READ),
            Link("/limit-requests", "nav.limits", "nav-limits", READ),
            Link("/reviews", "nav.reviews", "nav-reviews", READ),
            Link("/approvals", "nav.approvals", "nav-approvals", AUTHORS),
            Link("/groups", "nav.groups", "nav-groups", READ),
        ),
    ),
    Menu(
        "policy",
        "nav.menu.policy",
        (
            Link("/rules", "nav.rules", "nav-rules", RULES),
            Link("/playbooks", "nav.playbooks", "nav-playbooks", RULES),
            Link(
                "/scorecards",
                "nav.scorecards",
                "nav-scorecards",
                SCORING,
                ("/scorecards", "/scorecard-drafts"),
            ),
            Link("/models", "nav.models", "nav-models", SCORING),
            Link(
                "/policy/tiers",
                "nav.policy",
                "nav-policy",
                (
                    P.CREDIT_POLICY_MANAGE.value,
                    P.LIMIT_REQUESTS_APPROVE.value,
                    P.RULES_MANAGE.value,
                ),
                ("/policy",),
            ),
        ),
    ),
    Menu(
        "reports",
        "nav.menu.reports",
        (
            Link("/reports", "nav.reports", "nav-reports", (P.PORTFOLIO_READ.value,)),
            Link("/ecl", "nav.ecl", "nav-ecl", (P.ECL_READ.value,)),
        ),
    ),
    Menu(
        "system",
        "nav.menu.system",
        (
            Link("/imports", "nav.imports", "nav-imports", (P.IMPORTS_RUN.value,)),
            Link("/duplicates", "nav.duplicates", "nav-duplicates", (P.CUSTOMERS_MERGE.value,)),
            Link(
                "/jobs",
                "nav.jobs",
                "nav-jobs",
                (
                    P.SCORING_MANAGE.value,
                    P.RULES_MANAGE.value,
                    P.AUDIT_READ.value,
                    P.SYSTEM_MONITOR.value,
                ),
            ),
            Link("/audit", "nav.audit", "nav-audit", (P.AUDIT_READ.value,)),
            Link(
                "/integrations",
                "nav.integrations",
                "nav-integrations",
                (P.INTEGRATIONS_MANAGE.value,),
            ),
            Link("/users", "nav.users", "nav-users", (P.USERS_MANAGE.value,)),
            Link("/tokens", "nav.tokens", "nav-tokens", (P.TOKENS_MANAGE.value,)),
        ),
    ),
)


def _allowed(link: Link, permissions: Collection[str]) -> bool:
    return not link.needs or any(p in permissions for p in link.needs)


def nav_for(permissions: Collection[str], path: str) -> list[dict[str, Any]]:
    """What the navigation shows a caller with ``permissions`` on the page at ``path``: links
    and menus (each with its links), the current page's marked active."""
    shown: list[dict[str, Any]] = []
    for entry in NAV:
        if isinstance(entry, Link):
            if _allowed(entry, permissions):
                shown.append({"link": entry, "active": entry.active(path)})
            continue
        links = [
            {"link": link, "active": link.active(path)}
            for link in entry.links
            if _allowed(link, permissions)
        ]
        if links:
            shown.append({"menu": entry, "links": links, "active": any(x["active"] for x in links)})
    return shown


templates.env.globals["nav_for"] = nav_for
