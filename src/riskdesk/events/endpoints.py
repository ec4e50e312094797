"""API of the event record: one endpoint per kind for single records and one for batches."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from riskdesk.db import SessionDep
from riskdesk.events.schemas import (
    BatchIn,
    ComplaintIn,
    ContractIn,
    CreditNoteIn,
    IntakeReport,
    IntakeRowResult,
    InteractionIn,
    InvoiceAdjustmentIn,
    InvoiceIn,
    OrderCancellationIn,
    OrderIn,
    PaymentIn,
    PaymentReversalIn,
    ReturnIn,
    SurveyIn,
)
from riskdesk.kit.errors import PermissionDenied
from riskdesk.pipeline import intake
from riskdesk.pipeline.deps import WaitQuery, settle
from riskdesk.security.deps import CurrentPrincipal
from riskdesk.security.permissions import Permission
from riskdesk.security.service import Principal

router = APIRouter(tags=["events"])

# (path, kind, schema, permissions any of which allows writing)
_SALES_EVENTS = (Permission.EVENTS_WRITE,)
_SERVICE_EVENTS = (Permission.EVENTS_WRITE, Permission.SERVICE_EVENTS_WRITE)
# Calls, visits and e-mails are logged by the people who make them (sales among them).
_INTERACTIONS = (*_SERVICE_EVENTS, Permission.INTERACTIONS_WRITE)
EVENT_ROUTES: tuple[tuple[str, str, type[BaseModel], tuple[Permission, ...]], ...] = (
    ("orders", "orders", OrderIn, _SALES_EVENTS),
    ("invoices", "invoices", InvoiceIn, _SALES_EVENTS),
    ("payments", "payments", PaymentIn, _SALES_EVENTS),
    ("returns", "returns", ReturnIn, _SALES_EVENTS),
    ("complaints", "complaints", ComplaintIn, _SERVICE_EVENTS),
    ("survey-responses", "surveys", SurveyIn, _SERVICE_EVENTS),
    ("interactions", "interactions", InteractionIn, _INTERACTIONS),
    ("contracts", "contracts", ContractIn, _SALES_EVENTS),
    # Corrections: events that name the order, invoice or payment they correct.
    ("order-cancellations", "order_cancellations", OrderCancellationIn, _SALES_EVENTS),
    ("credit-notes", "credit_notes", CreditNoteIn, _SALES_EVENTS),
    ("invoice-adjustments", "invoice_adjustments", InvoiceAdjustmentIn, _SALES_EVENTS),
    ("payment-reversals", "payment_reversals", PaymentReversalIn, _SALES_EVENTS),
)


def _writer(permissions: tuple[Permission, ...]) -> Any:
    def check(principal: CurrentPrincipal) -> Principal:
        if not any(principal.can(p) for p in permissions):
            raise PermissionDenied(
                "recording these events needs " + " or ".join(repr(p.value) for p in permissions)
            )
        return principal

    setattr(check, "requires", permissions)  # noqa: B010  (any one of them; security/matrix.py)
    return Annotated[Principal, Depends(check)]


def _add_routes(
    path: str, kind: str, schema: type[BaseModel], permissions: tuple[Permission, ...]
) -> None:
    writer = _writer(permissions)

    def create_one(
        body: BaseModel,
        request: Request,
        session: SessionDep,
        principal: Principal,
        response: Response,
        wait: WaitQuery = None,
    ) -> IntakeRowResult:
        report = intake.ingest(
            session, principal, kind, [body.model_dump(mode="json", exclude_unset=True)]
        )
        result = report.results[0]
        response.status_code = 201 if result.status == "created" else 200
        settle(request, session, response, wait)
        return result

    def create_batch(
        body: BatchIn,
        request: Request,
        session: SessionDep,
        principal: Principal,
        response: Response,
        wait: WaitQuery = None,
    ) -> IntakeReport:
        report = intake.ingest(
            session, principal, kind, body.records, skip_invalid=body.skip_invalid
        )
        report.processing = settle(request, session, response, wait)
        return report

    # FastAPI reads these annotations: the kind's own schema documents the body in OpenAPI,
    # and the permission check runs as a dependency.
    create_one.__annotations__.update(body=schema, principal=writer)
    create_batch.__annotations__.update(principal=writer)

    noun = path.replace("-", " ")
    router.add_api_route(
        f"/{path}",
        create_one,
        methods=["POST"],
        response_model=IntakeRowResult,
        status_code=201,
        name=f"create_{kind}",
        summary=f"Record one of the {noun}",
        description="Idempotent on (source, external_id): a resend answers 200 with status "
        "'duplicate'; the same key with other content is rejected.",
        responses={200: {"description": "a duplicate of a stored record"}},
    )
    router.add_api_route(
        f"/{path}/batch",
        create_batch,
        methods=["POST"],
        response_model=IntakeReport,
        name=f"create_{kind}_batch",
        summary=f"Record up to 10,000 {noun}",
        description=f"Records as in POST /{path}. Any invalid record stops the batch (422 with "
        "every problem) unless skip_invalid is true.",
    )


for _path, _kind, _schema, _perms in EVENT_ROUTES:
    _add_routes(_path, _kind, _schema, _perms)
