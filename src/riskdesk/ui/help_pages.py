"""Help and training: the help index, a help page per screen, the glossary, a getting-started
guide and a practice walkthrough per role. Readable by anyone signed in.

"Who may do it" is read, never written: each action names its UI route, the route's
dependencies say which permissions it requires (security/matrix.py reads them the same way),
and the roles that hold them come from security/permissions.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts

from riskdesk.customers import service as customer_service
from riskdesk.db import SessionDep
from riskdesk.kit.errors import NotFound
from riskdesk.security.deps import CurrentPrincipal
from riskdesk.security.permissions import ROLE_PERMISSIONS, Permission, Role
from riskdesk.security.service import Principal
from riskdesk.ui.help.content import (
    GLOSSARY,
    GLOSSARY_BY_KEY,
    GUIDES,
    GUIDES_BY_ROLE,
    SCREENS,
    SCREENS_BY_KEY,
    Action,
    Route,
    Screen,
)
from riskdesk.ui.help.progress import CHECKS, a_customer, an_open_case
from riskdesk.ui.i18n import pick_locale
from riskdesk.ui.render import render, templates

router = APIRouter(include_in_schema=False)
API_PREFIX = "/api/"


@dataclass(frozen=True)
class Needs:
    """What a route requires: all of ``permissions``; none means any signed-in user."""

    permissions: tuple[Permission, ...]

    def roles(self) -> tuple[Role, ...]:
        """The roles that hold every permission needed, in the model's order."""
        return tuple(r for r in Role if all(p in ROLE_PERMISSIONS[r] for p in self.permissions))


def route_needs(app: FastAPI) -> dict[Route, tuple[Permission, ...]]:
    """What every UI route requires, read from its dependencies (cached on the app)."""
    found: dict[Route, tuple[Permission, ...]] | None = getattr(app.state, "help_needs", None)
    if found is None:
        found = {}
        for context in iter_route_contexts(app.router.routes):
            route, path = context.original_route, context.path or ""
            if not isinstance(route, APIRoute) or path.startswith(API_PREFIX):
                continue
            needed = tuple(dict.fromkeys(p for c in _calls(route.dependant) for p in _requires(c)))
            for method in route.methods or ():
                found[(method, path)] = needed
        app.state.help_needs = found
    return found


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def _requires(call: Any) -> tuple[Permission, ...]:
    # Set by security.deps.require on its dependency (as the permission matrix reads it).
    return tuple(getattr(call, "requires", ()))


def needs_of(app: FastAPI, route: Route, also: Permission | None = None) -> Needs:
    """The permissions a route (and the service behind it, ``also``) requires."""
    needed = route_needs(app)[route]  # KeyError: the help names a route the app lacks
    return Needs(needed + ((also,) if also and also not in needed else ()))


def action_roles(app: FastAPI, action: Action) -> tuple[Role, ...]:
    """The roles that may take an action."""
    return needs_of(app, action.route, action.also).roles()


def screen_roles(app: FastAPI, screen: Screen) -> tuple[Role, ...]:
    """The roles that may open a screen: those allowed at least one of its views."""
    allowed = {r for v in screen.views for r in needs_of(app, v).roles()}
    return tuple(r for r in Role if r in allowed)


def help_for(path: str) -> str:
    """The help page of the screen at ``path`` (longest prefix), else the help index."""
    best: tuple[int, str] = (0, "/help")
    for screen in SCREENS:
        for prefix in screen.prefixes:
            if path.startswith(prefix) and len(prefix) > best[0]:
                best = (len(prefix), f"/help/screens/{screen.key}")
    if path in ("/", "") or path.startswith("/help"):
        return "/help"
    return best[1]


templates.env.globals["help_for"] = help_for

# Words of the help pages themselves (the catalogues stay as they are; the content is here).
LABELS: dict[str, tuple[str, str]] = {
    "help": ("Help and training", "帮助与培训"),
    "intro": (
        "Help for every screen, the credit terms, a guide to start with per role, and "
        "practice walkthroughs on the demo data.",
        "每个页面的帮助、信用术语、各角色入门指南，以及基于演示数据的练习。",
    ),
    "screens": ("Screens", "页面帮助"),
    "glossary": ("Glossary", "术语表"),
    "start": ("Getting started", "入门指南"),
    "practice": ("Practice", "练习模式"),
    "shows": ("What it shows", "页面内容"),
    "actions": ("What you can do", "可执行的操作"),
    "action": ("Action", "操作"),
    "does": ("What it does", "作用"),
    "who": ("Who may do it", "可操作的角色"),
    "who_opens": ("Who may open it", "可访问的角色"),
    "nobody": ("No role", "无角色"),
    "open": ("Open the screen", "打开页面"),
    "terms": ("Terms used here", "相关术语"),
    "related": ("See also", "另请参阅"),
    "formula": ("Formula", "公式"),
    "you_may": ("You may", "您可以"),
    "you_may_not": ("Not your role", "非您的角色"),
    "no_actions": ("This screen is for reading.", "此页面仅供查看。"),
    "guide_screens": ("Screens you will use most", "常用页面"),
    "practice_intro": (
        "On the demo data, sign in as the demo user below (the trainer gives the password) and "
        "follow the steps in order. A step with a check turns done when the database shows "
        "you did it.",
        "在演示数据上，以下方的演示用户登录（密码由培训人员提供），并按顺序完成各步骤。"
        "带检查的步骤在数据库记录显示您已完成后会标记为完成。",
    ),
    "demo_user": ("Demo user", "演示用户"),
    "step": ("Step", "步骤"),
    "do": ("Do", "操作"),
    "look": ("Look for", "关注"),
    "done": ("Done", "已完成"),
    "not_done": ("Not yet", "未完成"),
    "no_check": ("No check: look for yourself", "无自动检查：请自行确认"),
    "go": ("Go", "前往"),
    "other_role": (
        "This walkthrough is for another role: its checks show your own progress.",
        "此练习属于其他角色：检查显示的是您本人的完成情况。",
    ),
    "for_role": ("Per role", "按角色"),
    "your_role": ("your role", "您的角色"),
    "back": ("Help index", "帮助首页"),
    "colon": (": ", "："),
}


def _page(request: Request, template: str, principal: Principal, **context: Any) -> Response:
    locale = pick_locale(request, request.app.state.settings.default_locale)
    lang = 1 if locale == "zh-CN" else 0
    labels = {k: v[lang] for k, v in LABELS.items()}
    return render(
        request,
        template,
        principal,
        lang=lang,
        h=labels,
        guides=GUIDES,
        my_role=principal.user.role,
        **context,
    )


@router.get("/help", response_class=HTMLResponse)
def help_index(request: Request, principal: CurrentPrincipal) -> Response:
    """The help index: every screen, the glossary, the guides and practice per role."""
    app = request.app
    return _page(
        request,
        "help/index.html",
        principal,
        screens=[(s, screen_roles(app, s)) for s in SCREENS],
    )


@router.get("/help/glossary", response_class=HTMLResponse)
def help_glossary(request: Request, principal: CurrentPrincipal) -> Response:
    """The glossary of credit terms, with formulas."""
    return _page(request, "help/glossary.html", principal, terms=GLOSSARY)


@router.get("/help/screens/{screen}", response_class=HTMLResponse)
def help_screen(
    request: Request,
    principal: CurrentPrincipal,
    screen: Annotated[str, Path(max_length=32)],
) -> Response:
    """One screen's help: what it shows, each action and the roles that may take it."""
    found = SCREENS_BY_KEY.get(screen)
    if found is None:
        raise NotFound(f"no help for the screen {screen!r}", field="screen")
    app = request.app
    mine = principal.permissions
    actions = [
        (a, action_roles(app, a), needs_of(app, a.route, a.also).permissions) for a in found.actions
    ]
    return _page(
        request,
        "help/screen.html",
        principal,
        screen=found,
        opens=screen_roles(app, found),
        actions=[(a, roles, all(p in mine for p in needed)) for a, roles, needed in actions],
        terms=[GLOSSARY_BY_KEY[k] for k in found.terms],
        related=[SCREENS_BY_KEY[k] for k in found.related],
        link=next((v[1] for v in found.views if "{" not in v[1]), None),
    )


@router.get("/help/start/{role}", response_class=HTMLResponse)
def help_start(
    request: Request,
    principal: CurrentPrincipal,
    role: Annotated[str, Path(max_length=32)],
) -> Response:
    """A role's getting-started guide."""
    guide = GUIDES_BY_ROLE.get(role)
    if guide is None:
        raise NotFound(f"no guide for the role {role!r}", field="role")
    return _page(
        request,
        "help/start.html",
        principal,
        guide=guide,
        guide_screens=[SCREENS_BY_KEY[k] for k in guide.screens],
    )


@router.get("/help/practice/{role}", response_class=HTMLResponse)
def help_practice(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    role: Annotated[str, Path(max_length=32)],
) -> Response:
    """A role's practice walkthrough: ordered steps linking to the real screens, each with
    whether the signed-in user has done it (read from the database)."""
    guide = GUIDES_BY_ROLE.get(role)
    if guide is None:
        raise NotFound(f"no practice for the role {role!r}", field="role")
    owners = customer_service.visible_owner_ids(principal)
    # Placeholders become records of the demo data this user may see, or the list instead.
    records = {
        "{customer}": (a_customer(session, owners), "/customers"),
        "{case}": (an_open_case(session, owners), "/alerts"),
    }
    steps = []
    for step in guide.steps:
        link = step.link
        for placeholder, (found, fallback) in records.items():
            if placeholder in link:
                link = link.replace(placeholder, str(found)) if found else fallback
        done = CHECKS[step.check](session, principal.user_id) if step.check else None
        steps.append((step, link, done))
    return _page(
        request,
        "help/practice.html",
        principal,
        guide=guide,
        steps=steps,
    )
