"""API of early-warning rules, backtests and churn risk. (Rule and anomaly runs raise alerts, so
they are ``riskdesk.alerts.endpoints``, a floor up.)"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from riskdesk.db import SessionDep, begin_store, reads_first, snapshot
from riskdesk.jobs.deps import ACCEPTED, start_job, wants_async
from riskdesk.kit.errors import ValidationFailed
from riskdesk.kit.timeutil import today
from riskdesk.kit.validation import PathId
from riskdesk.models import RuleVersion, WarningRule
from riskdesk.monitoring import backtest, replay, service
from riskdesk.monitoring.rules import RuleError, compile_rule
from riskdesk.monitoring.schemas import (
    BacktestIn,
    CheckIn,
    CheckOut,
    ChurnFitRead,
    ChurnRiskRead,
    PackUpdateRead,
    PackUpdatesRead,
    ReplayIn,
    RuleIn,
    RuleRead,
    RuleVersionIn,
    RuleVersionRead,
)
from riskdesk.security.deps import (
    CanChangesApprove,
    CanCustomersRead,
    CanRulesManage,
)
from riskdesk.security.permissions import Permission

router = APIRouter(tags=["early warning"])

Code = Annotated[str, Path(max_length=64)]


def _rule(rule: WarningRule, versions: list[RuleVersion]) -> RuleRead:
    return RuleRead(
        code=rule.code,
        name_en=rule.name_en,
        name_zh=rule.name_zh,
        category=rule.category,
        warning_type=rule.warning_type,
        versions=[RuleVersionRead.model_validate(v) for v in versions],
    )


@router.get("/rules", response_model=list[RuleRead])
def list_rules(session: SessionDep, _: CanCustomersRead) -> list[RuleRead]:
    """Every early-warning rule with its versions."""
    return [_rule(r, v) for r, v in service.list_rules(session)]


@router.post("/rules/check", response_model=CheckOut)
@reads_first
def check_rule(body: CheckIn, _: CanCustomersRead) -> CheckOut:
    """Check an expression as it is typed: what it reads, or the error and its column."""
    try:
        rule = compile_rule(body.expression)
    except RuleError as exc:
        return CheckOut(valid=False, error=exc.message, position=exc.position)
    return CheckOut(valid=True, reads=sorted(rule.reads))


@router.post(
    "/rules",
    response_model=RuleRead,
    status_code=201,
    responses={200: {"description": "the same rule was already created"}},
)
def create_rule(
    body: RuleIn, session: SessionDep, principal: CanRulesManage, response: Response
) -> RuleRead:
    """A new rule; its first version is a draft until a second person approves it."""
    spec = body.model_dump(mode="json")
    rule, _, created = service.create_rule(session, principal, spec)
    if not created:
        response.status_code = 200
    return _rule(rule, [v for r, vs in service.list_rules(session) if r.id == rule.id for v in vs])


@router.post(
    "/rules/{code}/versions",
    response_model=RuleVersionRead,
    status_code=201,
    responses={200: {"description": "the same draft already exists"}},
)
def add_version(
    code: Code,
    body: RuleVersionIn,
    session: SessionDep,
    principal: CanRulesManage,
    response: Response,
) -> RuleVersionRead:
    """A new draft version of a rule."""
    version, created = service.add_version(session, principal, code, body.model_dump(mode="json"))
    if not created:
        response.status_code = 200
    return RuleVersionRead.model_validate(version)


@router.post("/rule-versions/{version_id}/approve", response_model=RuleVersionRead)
def approve(
    version_id: PathId, session: SessionDep, principal: CanChangesApprove
) -> RuleVersionRead:
    """Approve a draft (not one's own)."""
    return RuleVersionRead.model_validate(service.approve(session, principal, version_id))


@router.post("/rule-versions/{version_id}/activate", response_model=RuleVersionRead)
def activate(version_id: PathId, session: SessionDep, principal: CanRulesManage) -> RuleVersionRead:
    """Put an approved version live; the one it replaces retires."""
    return RuleVersionRead.model_validate(service.activate(session, principal, version_id))


@router.post("/rule-versions/{version_id}/retire", response_model=RuleVersionRead)
def retire(version_id: PathId, session: SessionDep, principal: CanRulesManage) -> RuleVersionRead:
    """Stop an active version."""
    return RuleVersionRead.model_validate(service.retire(session, principal, version_id))


@router.post("/rule-versions/{version_id}/reject", response_model=RuleVersionRead)
def reject(version_id: PathId, session: SessionDep, principal: CanRulesManage) -> RuleVersionRead:
    """Reject a draft or an approved version that never went live."""
    return RuleVersionRead.model_validate(service.reject(session, principal, version_id))


@router.post("/rules/backtest", responses=ACCEPTED)
@reads_first
def backtest_rule(
    body: BacktestIn, session: SessionDep, principal: CanRulesManage, request: Request
) -> Any:
    """Hits per month end over the history, and how well they foretold defaults or churn:
    recall, median days early, false-alarm rate. Reads only: takes no write lock. With
    ``Prefer: respond-async``: a job (202), whose result is this answer."""
    rule = service.checked(body.expression)
    if wants_async(request):
        return start_job(
            session,
            principal,
            kind="rule_backtest",
            permission=Permission.RULES_MANAGE,
            parameters=body.model_dump(mode="json"),
        )
    with snapshot(session):
        return backtest.run(
            session,
            rule,
            months=body.months,
            horizon_days=body.horizon_days,
            outcome=body.outcome,
        )


@router.post("/rules/pack-updates", response_model=PackUpdatesRead)
def draft_pack_updates(session: SessionDep, principal: CanRulesManage) -> PackUpdatesRead:
    """Draft a new version of each shipped rule whose active version differs from the default
    pack of this release (an install from an older one), for a second person to approve after
    comparing it in a replay; the same again drafts nothing. ``waiting``: rules not drafted
    because a version of theirs awaits a decision."""
    drafted, waiting = service.draft_shipped_changes(session, principal)
    return PackUpdatesRead(
        drafted=[
            PackUpdateRead(code=c, version=RuleVersionRead.model_validate(v)) for c, v in drafted
        ],
        waiting=waiting,
    )


@router.post("/warning-replays", responses=ACCEPTED)
@reads_first
def replay_warnings(
    body: ReplayIn, session: SessionDep, principal: CanRulesManage, request: Request
) -> Any:
    """Replay every active rule and detector as of each date (weekly or monthly) over the
    stored history, into a result of its own (the alert queue is untouched), and judge each
    warning type: alerts, customers flagged, precision, recall and lead time against defaults
    (90+ days past due), churn (a 180-day gap) and confirmed alerts. With ``version_id``, the
    active rules and the rules with that version in place side by side (what approving it
    would change). A replay of the active pack is kept (``backtest_id``): its precision per
    type grades the severity of new alerts. No write lock is held while replaying. With
    ``Prefer: respond-async``: a job (202), whose result is this answer."""
    end = body.to or today()
    if body.from_ > end:
        raise ValidationFailed("from lies after to", field="from")
    if wants_async(request):
        return start_job(
            session,
            principal,
            kind="warning_replay",
            permission=Permission.RULES_MANAGE,
            parameters=body.model_dump(mode="json", by_alias=True),
        )
    with snapshot(session):
        if body.version_id is not None:
            return replay.compare(
                session,
                body.version_id,
                start=body.from_,
                end=end,
                every=body.every,
                horizon_days=body.horizon_days,
            )
        report = replay.run(
            session, start=body.from_, end=end, every=body.every, horizon_days=body.horizon_days
        )
    # What the active pack measured grades new alerts' severity from now on.
    begin_store(session)
    report["backtest_id"] = replay.record(session, report, created_by_id=principal.user_id).id
    return report


@router.post("/churn-fits", response_model=ChurnFitRead, status_code=201, responses=ACCEPTED)
@reads_first
def fit_churn(
    session: SessionDep, principal: CanRulesManage, request: Request
) -> ChurnFitRead | JSONResponse:
    """Fit the BG/NBD churn model on every customer's purchases to date (no lock held while
    fitting). With ``Prefer: respond-async``: a job (202), whose result is this answer."""
    if wants_async(request):
        return start_job(
            session, principal, kind="churn_fit", permission=Permission.RULES_MANAGE, parameters={}
        )
    with snapshot(session):
        fit = service.compute_churn_fit(session)
    begin_store(session)
    return ChurnFitRead.model_validate(service.store_churn_fit(session, fit))


@router.get("/customers/{customer_id}/churn-risk", response_model=ChurnRiskRead)
def churn_risk(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> ChurnRiskRead:
    """A customer's probability of still buying, expected purchases next quarter, decline
    signals and combined churn risk (all empty until a model is fitted or they first buy)."""
    fit, row = service.churn_risk_of(session, principal, customer_id)
    return ChurnRiskRead(
        customer_id=customer_id,
        **{k: row.get(k) for k in ("p_alive", "expected_purchases", "decline", "risk", "band")},
        fit=ChurnFitRead.model_validate(fit) if fit else None,
    )
