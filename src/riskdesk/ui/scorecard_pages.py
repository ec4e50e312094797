"""The scorecard editor in the browser: a new scorecard, a new draft from the active version,
and a draft's factors, bins and bands, with a live preview of the ratings it would give.

The form's fields are named after the schema's paths (``factors.0.bins.1.lower``), so that an
error the schema reports lands next to its field. Adding, removing and moving rows re-draws the
form without saving; saving is the API's PUT (the draft stays a draft until a second person
approves it on the scorecards page).
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from pydantic import ValidationError
from starlette.datastructures import FormData

from riskdesk.db import SessionDep, reads_first, snapshot
from riskdesk.kit.errors import Conflict, RiskdeskError, ValidationFailed
from riskdesk.kit.validation import PathId
from riskdesk.scoring import registry
from riskdesk.scoring import service as scoring_service
from riskdesk.scoring.definition import SCORE_MAX, TIERS, Definition, factor_inputs
from riskdesk.scoring.schemas import ScorecardCreate, VersionCreate
from riskdesk.security import repository as users_repo
from riskdesk.security.deps import CanCustomersRead, CanScoringManage
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal
from riskdesk.ui.forms import FormDep
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.render import render, templates

router = APIRouter(include_in_schema=False)


@pass_context
def _factor_label(context: Context, factor: dict[str, Any]) -> str:
    """What a stored factor reads, by its label in the reader's language (its own label first,
    then the catalogue's, else its name)."""
    zh = context.get("locale") == "zh-CN"
    own = factor.get("label_zh" if zh else "label_en")
    if own:
        return str(own)
    spec = factor_inputs().get((str(factor.get("source")), str(factor.get("name"))))
    if spec is None:
        return str(factor.get("name", ""))
    return spec.zh if zh else spec.en


templates.env.filters["factor_label"] = _factor_label

# The most rows the form reads of each list (the schema refuses more than it allows anyway).
MAX_ROWS = 100
SOURCES = ("indicator", "ratio", "bureau", "attribute", "model")
CARD_FIELDS = ("code", "name", "customer_kind", "segments", "priority")
_INDEXED = re.compile(r"^(factors|ratings|tiers)\.(\d{1,3})\.(.+)$")
_BIN = re.compile(r"^bins\.(\d{1,3})\.(lower|upper|values|points)$")
_OP = re.compile(r"^(add|remove|up|down)_(factor|bin|rating|tier)(?::(\d{1,3}))?(?::(\d{1,3}))?$")
_SPLIT = re.compile(r"[,，、;；\n]+")

# Where a refusal of the whole factor points, by its code: the bin's field it is about.
_BIN_FIELD = {
    "category_bin": "values",
    "value_twice": "values",
    "numeric_bin": "values",
    "bin_order": "upper",
    "last_bin": "upper",
    "first_bin": "lower",
    "bin_gap": "lower",
}
_BAND_FIELD = {
    "band_twice": "code",
    "unknown_tier": "code",
    "band_order": "max",
    "band_overlap": "min",
}

Errors = dict[str, list[str]]


# ---------------------------------------------------------------- the form's state


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def state_of(definition: dict[str, Any], note: str | None = None) -> dict[str, Any]:
    """A stored definition as the form shows it (every value as text)."""
    factors = []
    for f in definition.get("factors", []):
        weight = f.get("weight") or {}
        factors.append(
            {
                "code": _text(f.get("code")),
                "input": f"{f.get('source')}:{f.get('name')}",
                "label_en": _text(f.get("label_en")),
                "label_zh": _text(f.get("label_zh")),
                "kind": "weight" if f.get("weight") else "bins",
                "missing_points": _text(f.get("missing_points", 0)),
                "weight": {
                    "points": _text(weight.get("points")),
                    "lower": _text(weight.get("lower")),
                    "upper": _text(weight.get("upper")),
                    "higher_is_better": _text(weight.get("higher_is_better", True)),
                },
                "bins": [
                    {
                        "lower": _text(b.get("lower")),
                        "upper": _text(b.get("upper")),
                        "values": ", ".join(b.get("values") or []),
                        "points": _text(b.get("points")),
                    }
                    for b in f.get("bins") or []
                ],
            }
        )

    def bands(key: str) -> list[dict[str, str]]:
        return [
            {"code": _text(b.get("code")), "min": _text(b.get("min")), "max": _text(b.get("max"))}
            for b in definition.get(key, [])
        ]

    return {
        "base_points": _text(definition.get("base_points", 0)),
        "reason_count": _text(definition.get("reason_count", 3)),
        "note": note or "",
        "factors": factors,
        "ratings": bands("ratings"),
        "tiers": bands("tiers"),
    }


# A new scorecard starts from one factor and the usual bands, to change from there.
STARTER: dict[str, Any] = {
    "base_points": 300,
    "factors": [
        {
            "code": "dpd",
            "source": "indicator",
            "name": "dpd_max",
            "bins": [
                {"upper": 1, "points": 500},
                {"lower": 1, "upper": 31, "points": 300},
                {"lower": 31, "upper": 91, "points": 100},
                {"lower": 91, "points": 0},
            ],
            "missing_points": 250,
        }
    ],
    "ratings": [
        {"code": "D", "min": 0, "max": 299},
        {"code": "C", "min": 300, "max": 499},
        {"code": "B", "min": 500, "max": 649},
        {"code": "A", "min": 650, "max": 1000},
    ],
    "tiers": [
        {"code": "critical", "min": 0, "max": 299},
        {"code": "high", "min": 300, "max": 499},
        {"code": "medium", "min": 500, "max": 649},
        {"code": "low", "min": 650, "max": 1000},
    ],
}


def _rows(form: FormData, prefix: str) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        match = _INDEXED.match(key)
        if match is None or match.group(1) != prefix or not isinstance(value, str):
            continue
        index = int(match.group(2))
        if index < MAX_ROWS:
            found.setdefault(index, {})[match.group(3)] = value.strip()
    return found


def state_from_form(form: FormData) -> dict[str, Any]:
    """What the person has in the form, as text (rows in the order of their numbers)."""
    factors = []
    for _, raw in sorted(_rows(form, "factors").items()):
        bins: dict[int, dict[str, str]] = {}
        for key, value in raw.items():
            match = _BIN.match(key)
            if match and int(match.group(1)) < MAX_ROWS:
                bins.setdefault(int(match.group(1)), {})[match.group(2)] = value
        factors.append(
            {
                "code": raw.get("code", ""),
                "input": raw.get("input", ""),
                "label_en": raw.get("label_en", ""),
                "label_zh": raw.get("label_zh", ""),
                "kind": "weight" if raw.get("kind") == "weight" else "bins",
                "missing_points": raw.get("missing_points", ""),
                "weight": {
                    k: raw.get(f"weight.{k}", "")
                    for k in ("points", "lower", "upper", "higher_is_better")
                },
                "bins": [
                    {k: b.get(k, "") for k in ("lower", "upper", "values", "points")}
                    for _, b in sorted(bins.items())
                ],
            }
        )

    def bands(key: str) -> list[dict[str, str]]:
        return [
            {k: b.get(k, "") for k in ("code", "min", "max")}
            for _, b in sorted(_rows(form, key).items())
        ]

    def field(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    state: dict[str, Any] = {
        "base_points": field("base_points"),
        "reason_count": field("reason_count"),
        "note": field("note"),
        "factors": factors,
        "ratings": bands("ratings"),
        "tiers": bands("tiers"),
    }
    state["card"] = {name: field(name) for name in CARD_FIELDS}
    return state


def _new_factor() -> dict[str, Any]:
    return {
        "code": "",
        "input": "indicator:dpd_max",
        "label_en": "",
        "label_zh": "",
        "kind": "bins",
        "missing_points": "0",
        "weight": {"points": "", "lower": "", "upper": "", "higher_is_better": "true"},
        "bins": [{"lower": "", "upper": "", "values": "", "points": "0"}],
    }


def apply_op(state: dict[str, Any], op: str) -> bool:
    """Add, remove or move a row of the form; False when ``op`` is none of these."""
    match = _OP.match(op)
    if match is None:
        return False
    verb, what = match.group(1), match.group(2)
    first = int(match.group(3)) if match.group(3) else None
    second = int(match.group(4)) if match.group(4) else None
    if what == "bin":
        if first is None or first >= len(state["factors"]):
            return True
        rows: list[Any] = state["factors"][first]["bins"]
        at = second
        blank: Any = {"lower": "", "upper": "", "values": "", "points": "0"}
    else:
        rows = state[{"factor": "factors", "rating": "ratings", "tier": "tiers"}[what]]
        at = first
        blank = _new_factor() if what == "factor" else {"code": "", "min": "", "max": ""}
    if verb == "add":
        if len(rows) < MAX_ROWS:
            rows.append(blank)
        return True
    if at is None or at >= len(rows):
        return True
    if verb == "remove":
        del rows[at]
    elif verb == "up" and at > 0:
        rows[at - 1], rows[at] = rows[at], rows[at - 1]
    elif verb == "down" and at + 1 < len(rows):
        rows[at + 1], rows[at] = rows[at], rows[at + 1]
    return True


# ---------------------------------------------------------------- from the form to the schema


def _number(value: str, path: str, errors: Errors, t: Translator) -> str | None:
    """The text of a number, or None when empty; a non-finite one (nan, inf) is refused here,
    since no JSON can store it."""
    if not value:
        return None
    try:
        if not math.isfinite(float(value)):
            errors.setdefault(path, []).append(t("scorecard_editor.error.finite"))
    except ValueError:
        pass  # the schema says what is wrong with it
    return value


def definition_body(state: dict[str, Any], errors: Errors, t: Translator) -> dict[str, Any]:
    """The definition the form holds, as the API would receive it (empty fields left out, so
    that the schema says they are needed or takes its default)."""

    def kept(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v not in (None, "")}

    factors = []
    for i, f in enumerate(state["factors"]):
        source, _, name = f["input"].partition(":")
        body = kept(
            {
                "code": f["code"],
                "source": source,
                "name": name,
                "label_en": f["label_en"],
                "label_zh": f["label_zh"],
                "missing_points": _number(
                    f["missing_points"], f"factors.{i}.missing_points", errors, t
                ),
            }
        )
        if f["kind"] == "weight":
            w = f["weight"]
            body["weight"] = kept(
                {
                    k: _number(w[k], f"factors.{i}.weight.{k}", errors, t)
                    for k in ("points", "lower", "upper")
                }
                | {"higher_is_better": w["higher_is_better"]}
            )
        else:
            bins = []
            for j, b in enumerate(f["bins"]):
                where = f"factors.{i}.bins.{j}"
                values = [v.strip() for v in _SPLIT.split(b["values"]) if v.strip()]
                bins.append(
                    kept(
                        {
                            "lower": _number(b["lower"], f"{where}.lower", errors, t),
                            "upper": _number(b["upper"], f"{where}.upper", errors, t),
                            "values": values or None,
                            "points": _number(b["points"], f"{where}.points", errors, t),
                        }
                    )
                )
            body["bins"] = bins
        factors.append(body)
    return kept(
        {
            "base_points": _number(state["base_points"], "base_points", errors, t),
            "reason_count": _number(state["reason_count"], "reason_count", errors, t),
            "factors": factors,
            "ratings": [kept(b) for b in state["ratings"]],
            "tiers": [kept(b) for b in state["tiers"]],
        }
    )


def _band_field(state: dict[str, Any], section: str, code: str, ctx: dict[str, Any]) -> str:
    rows = state[section]
    for k, row in enumerate(rows):
        if row["code"] == ctx.get("band"):
            if code == "band_gap":
                leaf = "max" if ctx.get("high") == SCORE_MAX and ctx.get("low", 0) > 0 else "min"
                return f"{section}.{k}.{leaf}"
            return f"{section}.{k}.{_BAND_FIELD.get(code, 'code')}"
    return section


def field_of(state: dict[str, Any], loc: tuple[Any, ...], code: str, ctx: dict[str, Any]) -> str:
    """The form field a schema error is about."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["definition"]:
        parts = parts[1:]
    if not parts:
        return "base_points" if code == "score_range" else "definition"
    if parts[0] == "factors":
        if len(parts) == 1:
            return f"factors.{ctx['index']}.code" if "index" in ctx else "factors"
        head = f"factors.{parts[1]}"
        if len(parts) == 2:
            if code in _BIN_FIELD:
                return f"{head}.bins.{ctx.get('index', 0)}.{_BIN_FIELD[code]}"
            return f"{head}.input" if code == "unknown_input" else f"{head}.kind"
        if parts[2] in ("source", "name"):
            return f"{head}.input"
        if parts[2] == "weight" and len(parts) == 3:
            return f"{head}.weight.upper" if code == "weight_order" else f"{head}.kind"
        if parts[2] == "bins" and len(parts) == 3:
            return f"{head}.kind"
    if parts[0] in ("ratings", "tiers") and len(parts) == 1:
        return _band_field(state, parts[0], code, ctx)
    return ".".join(parts)


def reason_text(t: Translator, code: str, message: str, ctx: dict[str, Any]) -> str:
    """A schema error in the reader's language: the scorecard's own refusals from the
    catalogue (rows counted from 1), the others as every form says them."""
    template = t.messages.get(f"scorecard_editor.error.{code}")
    if template is not None:
        values = {k: v for k, v in ctx.items() if k != "message"}
        for key in ("index", "other"):
            if isinstance(values.get(key), int):
                values[key] = values[key] + 1
        if code == "band_gap" and values.get("band") in TIERS:
            values["band"] = t(f"tier.{values['band']}")
        if isinstance(values.get("previous"), float):
            values["previous"] = _text(values["previous"])
        try:
            return template.format(**values)
        except (KeyError, IndexError):
            return t("error.reason.invalid")
    if t.locale == "en":
        return message.removeprefix("Value error, ")
    return (
        t.messages.get(f"error.reason.{code}")
        or t.messages.get(f"error.code.{code}")
        or t("error.reason.invalid")
    )


def schema_errors(t: Translator, state: dict[str, Any], exc: ValidationError) -> Errors:
    """Each of the schema's errors, said in the reader's language, by the field it is about."""
    errors: Errors = {}
    for e in exc.errors(include_url=False):
        ctx = dict(e.get("ctx") or {})
        field = field_of(state, tuple(e["loc"]), e["type"], ctx)
        text = reason_text(t, e["type"], str(e.get("msg", "")), ctx)
        if text not in errors.setdefault(field, []):
            errors[field].append(text)
    return errors


def checked_definition(
    t: Translator, state: dict[str, Any]
) -> tuple[Definition | None, dict[str, Any], Errors]:
    """The form's definition checked by the schema: (definition or None, body, errors)."""
    errors: Errors = {}
    body = definition_body(state, errors, t)
    if errors:
        return None, body, errors
    try:
        return Definition.model_validate(body), body, {}
    except ValidationError as exc:
        return None, body, schema_errors(t, state, exc)


def _card_body(state: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    card = state["card"]
    segments = [s.strip() for s in _SPLIT.split(card["segments"]) if s.strip()]
    body: dict[str, Any] = {
        "code": card["code"],
        "name": card["name"],
        "customer_kind": card["customer_kind"] or None,
        "segments": segments,
        "definition": definition,
        "note": state["note"] or None,
    }
    if card["priority"]:
        body["priority"] = card["priority"]
    return body


# ---------------------------------------------------------------- drawing the editor


def _inputs(session: Any, locale: str, state: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """What a factor may read, by source: (value, label) in the reader's language."""
    grouped: dict[str, list[tuple[str, str]]] = {s: [] for s in SOURCES}
    for (source, name), spec in factor_inputs().items():
        grouped[source].append((f"{source}:{name}", spec.zh if locale == "zh-CN" else spec.en))
    models = {m.name for m in registry.list_models(session)}
    models |= {
        f["input"].partition(":")[2] for f in state["factors"] if f["input"].startswith("model:")
    }
    for name in sorted(models):
        label = f"模型 {name}（冠军模型评分）" if locale == "zh-CN" else f"Model {name} (champion)"
        grouped["model"].append((f"model:{name}", label))
    return [(s, grouped[s]) for s in SOURCES if grouped[s]]


def _page(
    request: Request,
    session: Any,
    principal: Principal,
    state: dict[str, Any],
    *,
    version: Any = None,
    card: Any = None,
    errors: Errors | None = None,
    status_code: int = 200,
    notice: str | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    locale = pick_locale(request, request.app.state.settings.default_locale)
    t = Translator(locale)
    errors = errors or {}
    numeric = {f"{s}:{n}": spec.numeric for (s, n), spec in factor_inputs().items()}
    action = f"/scorecard-drafts/{version.id}" if version is not None else "/scorecards/new"
    return render(
        request,
        "scorecard_editor.html",
        principal,
        status_code=status_code,
        state=state,
        version=version,
        card=card,
        errors=errors,
        error_list=[(_field_label(t, f), m) for f, ms in errors.items() for m in ms],
        inputs=_inputs(session, locale, state),
        numeric=numeric,
        tiers=TIERS,
        action=action,
        preview_url=f"{action}/preview",
        stamp=scoring_service.draft_stamp(version) if version is not None else "",
        notice=notice,
        preview=_preview_view(t, preview) if preview else None,
    )


def _field_label(t: Translator, field: str) -> str:
    """Where an error is, as the person finds it: "factor 2 · bin 3 · lower bound"."""
    parts = field.split(".")
    said: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        label = t.messages.get(f"scorecard_editor.field.{part}") or t(f"field.{part}")
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            row = t.messages.get(f"scorecard_editor.row.{part}")
            n = int(parts[i + 1]) + 1
            said.append(row.format(n=n) if row else f"{label} {n}")
            i += 2
            continue
        said.append(label)
        i += 1
    return " · ".join(said)


def _preview_view(t: Translator, p: dict[str, Any]) -> dict[str, Any]:
    """The preview's figures and its chart of tiers (now and with the draft)."""
    tiers = [code for code in reversed(TIERS) if code in p["tiers"] or p["current_tiers"].get(code)]
    chart = {
        "labels": [t(f"tier.{c}") for c in tiers],
        "series": [
            {"name": t("scorecards.now"), "values": [p["current_tiers"].get(c, 0) for c in tiers]},
            {
                "name": t("scorecards.proposed"),
                "values": [p["proposed_tiers"].get(c, 0) for c in tiers],
            },
        ],
        "count": True,
        "colors": "palette",
        "grouped": True,
    }
    ratings = list(p["ratings"]) + sorted(set(p["current_ratings"]) - set(p["ratings"]))
    return {**p, "tier_rows": tiers, "rating_rows": ratings, "chart": json.dumps(chart)}


def _preview(
    request: Request,
    session: Any,
    principal: Principal,
    state: dict[str, Any],
    *,
    customer_kind: str | None,
    segments: list[str],
) -> Response:
    t = Translator(pick_locale(request, request.app.state.settings.default_locale))
    definition, _, errors = checked_definition(t, state)
    if definition is None:
        shown = [(_field_label(t, f), m) for f, ms in errors.items() for m in ms]
        return render(
            request, "partials/scorecard_preview.html", principal, invalid=shown, preview=None
        )
    # Reads every customer of the kind: on a snapshot, holding no write lock (the request
    # began like a GET: @reads_first on the routes that call this).
    with snapshot(session):
        found = scoring_service.preview_definition(
            session, definition, customer_kind=customer_kind, segments=segments
        )
    return render(
        request,
        "partials/scorecard_preview.html",
        principal,
        invalid=None,
        preview=_preview_view(t, found),
    )


def _draft(session: Any, version_id: int) -> tuple[Any, Any]:
    version = scoring_service.get_version_or_raise(session, version_id)
    if version.status != "draft":
        raise Conflict(
            f"version {version_id} is {version.status}, no longer a draft", code="not_a_draft"
        )
    return version, scoring_service.scorecard_of(session, version)


def _op(form: FormData) -> str:
    value = form.get("op")
    return value if isinstance(value, str) else "save"


# ---------------------------------------------------------------- new scorecards


@router.get("/scorecards/new", response_class=HTMLResponse)
def new_scorecard_page(
    request: Request, session: SessionDep, principal: CanScoringManage
) -> Response:
    """The editor for a new scorecard, starting from one factor and the usual bands."""
    state = state_of(STARTER)
    state["card"] = {"code": "", "name": "", "customer_kind": "", "segments": "", "priority": ""}
    return _page(request, session, principal, state)


@router.get("/scorecards/{code}", response_class=HTMLResponse)
def scorecard_page(
    request: Request,
    code: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    principal: CanCustomersRead,
) -> Response:
    """One scorecard: every version with its status, its factors' bins and points, who made
    it and who approved or rejected it, and when."""
    card, versions = scoring_service.get_scorecard(session, code)
    uids: set[int | None] = {v.created_by_id for v in versions}
    uids |= {v.updated_by_id for v in versions} | {v.decided_by_id for v in versions}
    return render(
        request,
        "scorecard.html",
        principal,
        card=card,
        versions=sorted(versions, key=lambda v: -v.version),
        people={
            uid: (u.display_name if (u := users_repo.get_user(session, uid)) else str(uid))
            for uid in uids
            if uid is not None
        },
        can_approve=principal.can(Permission.CHANGES_APPROVE),
        can_edit=principal.can(Permission.SCORING_MANAGE),
    )


@router.post("/scorecards/new", response_class=HTMLResponse)
def create_scorecard(
    request: Request, session: SessionDep, principal: CanScoringManage, form: FormDep
) -> Response:
    """Save a new scorecard as a draft (or add, remove or move a row of the form)."""
    state = state_from_form(form)
    op = _op(form)
    if apply_op(state, op) or op == "preview":
        return _page(request, session, principal, state)
    t = Translator(pick_locale(request, request.app.state.settings.default_locale))
    errors: Errors = {}
    body = _card_body(state, definition_body(state, errors, t))
    if errors:
        return _page(request, session, principal, state, errors=errors, status_code=422)
    try:
        created = ScorecardCreate.model_validate(body)
        _, draft, _ = scoring_service.create_scorecard(session, principal, created)
    except ValidationError as exc:
        return _page(
            request,
            session,
            principal,
            state,
            errors=schema_errors(t, state, exc),
            status_code=422,
        )
    except RiskdeskError as exc:
        session.rollback()
        said = _refusal(t, exc)
        return _page(
            request,
            session,
            principal,
            state,
            errors={exc.field or "code": [said]},
            status_code=exc.status_code,
        )
    return RedirectResponse(f"/scorecard-drafts/{draft.id}?done=created", status_code=303)


@router.post("/scorecards/new/preview", response_class=HTMLResponse)
@reads_first
def preview_new_scorecard(
    request: Request, session: SessionDep, principal: CanScoringManage, form: FormDep
) -> Response:
    """The live preview of a scorecard not saved yet (over the customers of its kind)."""
    state = state_from_form(form)
    kind = state["card"]["customer_kind"]
    segments = [s.strip() for s in _SPLIT.split(state["card"]["segments"]) if s.strip()]
    return _preview(
        request,
        session,
        principal,
        state,
        customer_kind=kind if kind in ("company", "individual") else None,
        segments=segments,
    )


@router.post("/scorecards/{code}/drafts")
def new_draft(
    code: Annotated[str, Path(max_length=64)], session: SessionDep, principal: CanScoringManage
) -> Response:
    """A new draft version, copied from the active version (else the newest): opens the editor
    (the open draft, when there is one already)."""
    card, versions = scoring_service.get_scorecard(session, code)
    for v in versions:
        if v.status == "draft":
            return RedirectResponse(f"/scorecard-drafts/{v.id}", status_code=303)
    source = next((v for v in versions if v.status == "active"), versions[0] if versions else None)
    if source is None:
        raise Conflict(f"scorecard {card.code} has no version to copy", code="not_a_draft")
    try:
        body = VersionCreate.model_validate({"definition": source.definition})
    except ValidationError as exc:  # the catalogue changed since that version was saved
        raise ValidationFailed(
            f"version {source.version} is no longer valid: {exc}", field="definition"
        ) from exc
    draft, _ = scoring_service.add_version(session, principal, card.code, body)
    return RedirectResponse(f"/scorecard-drafts/{draft.id}?done=copied", status_code=303)


# ---------------------------------------------------------------- drafts


def _refusal(t: Translator, exc: RiskdeskError) -> str:
    """A service's refusal: the catalogue's sentence for its code, else its own (English)."""
    said = t.messages.get(f"scorecard_editor.refused.{exc.code}") or t.messages.get(
        f"error.code.{exc.code}"
    )
    if said is not None:
        return said
    return exc.message if t.locale == "en" else t("error.reason.invalid")


@router.get("/scorecard-drafts/{version_id}", response_class=HTMLResponse)
def draft_page(
    request: Request,
    version_id: PathId,
    session: SessionDep,
    principal: CanScoringManage,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """The editor of a draft version."""
    version, card = _draft(session, version_id)
    notice = done if done in ("created", "copied", "saved", "unchanged") else None
    return _page(
        request,
        session,
        principal,
        state_of(version.definition, version.note),
        version=version,
        card=card,
        notice=notice,
    )


@router.post("/scorecard-drafts/{version_id}", response_class=HTMLResponse)
def save_draft(
    request: Request,
    version_id: PathId,
    session: SessionDep,
    principal: CanScoringManage,
    form: FormDep,
) -> Response:
    """Save the draft (the API's PUT; it stays a draft), and with ``op=submit`` go to the
    scorecards page where a second person approves it; or add, remove or move a row."""
    version, card = _draft(session, version_id)
    state = state_from_form(form)
    op = _op(form)
    if apply_op(state, op) or op == "preview":
        return _page(request, session, principal, state, version=version, card=card)
    t = Translator(pick_locale(request, request.app.state.settings.default_locale))
    definition, _, errors = checked_definition(t, state)
    if definition is None:
        return _page(
            request,
            session,
            principal,
            state,
            version=version,
            card=card,
            errors=errors,
            status_code=422,
        )
    seen = form.get("draft_stamp")
    before = scoring_service.draft_stamp(version)
    try:
        saved = scoring_service.edit_draft(
            session,
            principal,
            version_id,
            VersionCreate(definition=definition, note=state["note"] or None),
            seen=seen if isinstance(seen, str) else "",
        )
    except ValidationError as exc:  # the note
        return _page(
            request,
            session,
            principal,
            state,
            version=version,
            card=card,
            errors=schema_errors(t, state, exc),
            status_code=422,
        )
    except RiskdeskError as exc:
        session.rollback()
        return _page(
            request,
            session,
            principal,
            state,
            version=version,
            card=card,
            errors={"draft": [_refusal(t, exc)]},
            status_code=exc.status_code,
        )
    if op == "submit":
        return RedirectResponse(
            f"/scorecards?done={saved.id}&status=submitted#version-{saved.id}", status_code=303
        )
    done = "unchanged" if scoring_service.draft_stamp(saved) == before else "saved"
    return RedirectResponse(f"/scorecard-drafts/{saved.id}?done={done}", status_code=303)


@router.post("/scorecard-drafts/{version_id}/preview", response_class=HTMLResponse)
@reads_first
def preview_draft(
    request: Request,
    version_id: PathId,
    session: SessionDep,
    principal: CanScoringManage,
    form: FormDep,
) -> Response:
    """The live preview of the draft as it is in the form (nothing is saved)."""
    version = scoring_service.get_version_or_raise(session, version_id)
    card = scoring_service.scorecard_of(session, version)
    return _preview(
        request,
        session,
        principal,
        state_from_form(form),
        customer_kind=card.customer_kind,
        segments=list(card.segments or []),
    )
