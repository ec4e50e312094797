"""The permission matrix: every API operation, what it requires, and so which roles may call
it. Read from the routes themselves, so `docs/security.md` and the tests cannot drift from it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter

from riskdesk.security.deps import get_principal
from riskdesk.security.permissions import ROLE_PERMISSIONS, Permission, Role

PUBLIC = "public"
SIGNED_IN = "signed in"


@dataclass(frozen=True)
class Operation:
    """One API operation and what it needs: any of ``permissions``, or only a sign-in
    (``permissions`` empty and ``signed_in``), or nothing (public)."""

    method: str
    path: str
    permissions: tuple[Permission, ...]
    signed_in: bool

    def allows(self, role: Role) -> bool:
        """Whether a user of this role may call it (with an unrestricted token)."""
        if not self.permissions:
            return True
        return any(p in ROLE_PERMISSIONS[role] for p in self.permissions)

    @property
    def requirement(self) -> str:
        """What it needs, for the table."""
        if self.permissions:
            return " or ".join(f"`{p.value}`" for p in self.permissions)
        return SIGNED_IN if self.signed_in else PUBLIC


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def operations(routers: Iterable[APIRouter], prefix: str) -> list[Operation]:
    """Every operation of the routers, by path and method."""
    found: list[Operation] = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            calls = list(_calls(route.dependant))
            needs: tuple[Permission, ...] = ()
            for call in calls:
                needs += tuple(getattr(call, "requires", ()))
            signed_in = bool(needs) or any(c is get_principal for c in calls)
            for method in sorted(route.methods or ()):
                found.append(Operation(method, prefix + route.path, needs, signed_in))
    return sorted(found, key=lambda o: (o.path, o.method))


ROLE_COLUMNS = (
    (Role.CREDIT_MANAGER, "CM"),
    (Role.RISK_ANALYST, "RA"),
    (Role.SALES, "S"),
    (Role.CUSTOMER_SERVICE, "CS"),
    (Role.AUDITOR, "AU"),
    (Role.ADMIN, "AD"),
)


def markdown(ops: Iterable[Operation]) -> str:
    """The matrix as a Markdown table: operation, requirement, a mark per role allowed."""
    head = "| operation | needs | " + " | ".join(c for _, c in ROLE_COLUMNS) + " |"
    rule = "| --- | --- | " + " | ".join(":-:" for _ in ROLE_COLUMNS) + " |"
    rows = [
        f"| `{o.method} {o.path}` | {o.requirement} | "
        + " | ".join("✓" if o.allows(r) else "" for r, _ in ROLE_COLUMNS)
        + " |"
        for o in ops
    ]
    return "\n".join([head, rule, *rows]) + "\n"


if __name__ == "__main__":
    # `python -m riskdesk.security.matrix` prints the table for docs/security.md.
    from riskdesk.main import API_PREFIX, API_ROUTERS

    print(markdown(operations(API_ROUTERS, API_PREFIX)), end="")
