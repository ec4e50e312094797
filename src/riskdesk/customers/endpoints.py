"""API of the credit file."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse

from riskdesk.audit import trail
from riskdesk.customers import repository as repo
from riskdesk.customers import service
from riskdesk.customers.repository import CustomerFilter
from riskdesk.customers.schemas import (
    ContactCreate,
    ContactRead,
    CreditReportCreate,
    CreditReportRead,
    CustomerCreate,
    CustomerRead,
    CustomerStatus,
    CustomerSummary,
    CustomerUpdate,
    Decision,
    DocumentRead,
    DuplicateCandidate,
    MergeRequest,
    PendingChangeRead,
    RevealRequest,
    RevealResult,
    StatementCreate,
    StatementRead,
    UpdateResult,
    VersionRead,
)
from riskdesk.db import SessionDep
from riskdesk.events import repository as event_repo
from riskdesk.events.schemas import BatchIn, IntakeReport, IntakeRowResult
from riskdesk.kit.errors import NotFound
from riskdesk.kit.pagination import MAX_PAGE_SIZE, Page, PageParams
from riskdesk.kit.validation import DB_ID_MAX, PathId
from riskdesk.pipeline import intake
from riskdesk.pipeline import merge as merge_pipeline
from riskdesk.pipeline.deps import WaitQuery, settle
from riskdesk.security.deps import (
    CanChangesApprove,
    CanCustomersMerge,
    CanCustomersRead,
    CanCustomersWrite,
    CanDocumentsRead,
    CanDocumentsWrite,
    CanEventsRead,
    CanPersonalDataReveal,
)
from riskdesk.security.service import Principal

router = APIRouter(tags=["credit file"])
REPLAY = "Updated, or the same record sent again (nothing changed)"


def single_result(report: IntakeReport, response: Response) -> IntakeRowResult:
    """One record's result; 201 when it was created."""
    result = report.results[0]
    response.status_code = 201 if result.status == "created" else 200
    return result


def customer_filter(
    q: Annotated[
        str | None, Query(max_length=200, description="name, code, tax id or external id")
    ] = None,
    kind: Annotated[str | None, Query(pattern="^(company|individual)$")] = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    status: CustomerStatus | None = None,
    risk_tier: Annotated[
        str | None, Query(max_length=16, description="a tier, or `unrated` for none yet")
    ] = None,
    blocked: bool | None = None,
    industry: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: Annotated[int | None, Query(ge=1, le=DB_ID_MAX)] = None,
    group: Annotated[str | None, Query(max_length=64, description="a group's code")] = None,
) -> CustomerFilter:
    """The customer filter from query parameters (the list's, its export's, and those of the
    per-customer lists: ageing, exposure)."""
    return CustomerFilter(
        q=q,
        kind=kind,
        segment=segment,
        region=region,
        status=status.value if status else None,
        risk_tier=risk_tier,
        blocked=blocked,
        industry=industry,
        owner_id=owner_id,
        group_code=group,
        include_merged=status == CustomerStatus.MERGED,
    )


CustomerFilterDep = Annotated[CustomerFilter, Depends(customer_filter)]


@router.get("/customers", response_model=Page[CustomerSummary])
def list_customers(
    session: SessionDep,
    principal: CanCustomersRead,
    flt: CustomerFilterDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 25,
) -> Page[CustomerSummary]:
    """Customers you may see, filtered and paged."""
    return service.list_customers(session, principal, flt=flt, page=PageParams(page, size))


@router.post(
    "/customers",
    response_model=IntakeRowResult,
    status_code=201,
    responses={200: {"description": "duplicate or update of a known customer"}},
)
def create_customer(
    body: CustomerCreate,
    request: Request,
    session: SessionDep,
    principal: CanCustomersWrite,
    response: Response,
    wait: WaitQuery = None,
) -> IntakeRowResult:
    """Create a customer; resending it changes nothing; changed fields update the file (critical
    ones wait for approval)."""
    report = intake.ingest(
        session, principal, "customers", [body.model_dump(mode="json", exclude_unset=True)]
    )
    result = single_result(report, response)
    settle(request, session, response, wait)
    return result


@router.post("/customers/batch", response_model=IntakeReport)
def create_customers(
    body: BatchIn,
    request: Request,
    session: SessionDep,
    principal: CanCustomersWrite,
    response: Response,
    wait: WaitQuery = None,
) -> IntakeReport:
    """Up to 10,000 customers (records as in POST /customers). As in customer files, a record
    may give consents as `consent_<purpose>` (yes/no, true/false, 1/0, 是/否) with
    `consent_notice_version` (and `consent_given_at`, `consent_evidence`), or as JSON in
    `consents`: a list of purposes or an object purpose -> yes/no."""
    report = intake.ingest(
        session, principal, "customers", body.records, skip_invalid=body.skip_invalid
    )
    report.processing = settle(request, session, response, wait)
    return report


@router.get("/customers/{customer_id}", response_model=CustomerRead)
def get_customer(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> CustomerRead:
    """One credit file."""
    return service.read_customer(session, principal, customer_id)


@router.patch("/customers/{customer_id}", response_model=UpdateResult)
def update_customer(
    customer_id: PathId, body: CustomerUpdate, session: SessionDep, principal: CanCustomersWrite
) -> UpdateResult:
    """Change a credit file; critical fields wait for a second person's approval."""
    outcome = service.update_customer(session, principal, customer_id, body)
    pending = (
        service.pending_read(session, principal, [outcome.pending])[0] if outcome.pending else None
    )
    return UpdateResult(
        customer=service.read_customer(session, principal, customer_id),
        applied=service.applied_read(session, principal, customer_id, outcome.applied),
        pending_change=pending,
    )


@router.get("/customers/{customer_id}/history", response_model=list[VersionRead])
def customer_history(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[VersionRead]:
    """Every change to the credit file, newest first."""
    return service.history(session, principal, customer_id)


@router.get("/customers/{customer_id}/pending-changes", response_model=list[PendingChangeRead])
def customer_pending(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[PendingChangeRead]:
    """Changes to this credit file that wait for approval."""
    service.get_customer_or_raise(session, principal, customer_id)
    return service.list_pending(session, principal, customer_id=customer_id)


@router.get("/customers/{customer_id}/contacts", response_model=list[ContactRead])
def list_contacts(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[ContactRead]:
    """Contact people (phone and e-mail masked for roles that do not see personal data)."""
    return service.contacts(session, principal, customer_id)


@router.post("/customers/{customer_id}/contacts", response_model=ContactRead, status_code=201)
def add_contact(
    customer_id: PathId, body: ContactCreate, session: SessionDep, principal: CanCustomersWrite
) -> ContactRead:
    """Add a contact person."""
    contact = service.add_contact(session, principal, customer_id, body)
    return service.contact_read(session, principal, contact)


@router.post("/customers/{customer_id}/reveal", response_model=RevealResult)
def reveal(
    customer_id: PathId, body: RevealRequest, session: SessionDep, principal: CanPersonalDataReveal
) -> RevealResult:
    """Show one masked value in full; the audit log keeps who, when and why."""
    return service.reveal(session, principal, customer_id, body)


@router.delete("/customers/{customer_id}/contacts/{contact_id}", status_code=204)
def remove_contact(
    customer_id: PathId,
    contact_id: PathId,
    session: SessionDep,
    principal: CanCustomersWrite,
    reason: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Remove a contact person (the history keeps it)."""
    service.remove_contact(session, principal, customer_id, contact_id, reason=reason)
    return Response(status_code=204)


@router.get("/customers/{customer_id}/statements", response_model=list[StatementRead])
def list_statements(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[StatementRead]:
    """Financial statements, newest period first."""
    service.get_customer_or_raise(session, principal, customer_id)
    return [StatementRead.model_validate(s) for s in repo.statements_of(session, customer_id)]


@router.post(
    "/statements",
    response_model=IntakeRowResult,
    status_code=201,
    responses={200: {"model": IntakeRowResult, "description": REPLAY}},
)
def add_statement(
    body: StatementCreate, session: SessionDep, principal: CanCustomersWrite, response: Response
) -> IntakeRowResult:
    """Add a period's statement, or correct it (the history keeps the old figures)."""
    report = intake.ingest(
        session, principal, "statements", [body.model_dump(mode="json", exclude_unset=True)]
    )
    return single_result(report, response)


@router.post("/statements/batch", response_model=IntakeReport)
def add_statements(
    body: BatchIn, session: SessionDep, principal: CanCustomersWrite
) -> IntakeReport:
    """Up to 10,000 statements."""
    return intake.ingest(
        session, principal, "statements", body.records, skip_invalid=body.skip_invalid
    )


@router.get("/customers/{customer_id}/credit-reports", response_model=list[CreditReportRead])
def list_reports(
    customer_id: PathId, session: SessionDep, principal: CanCustomersRead
) -> list[CreditReportRead]:
    """Bureau reports, newest first (the bureau's full answer only for roles that see personal
    data; its reading is logged)."""
    return service.reports(session, principal, customer_id)


@router.post(
    "/credit-reports",
    response_model=IntakeRowResult,
    status_code=201,
    responses={200: {"model": IntakeRowResult, "description": REPLAY}},
)
def add_report(
    body: CreditReportCreate, session: SessionDep, principal: CanCustomersWrite, response: Response
) -> IntakeRowResult:
    """Store a bureau report."""
    report = intake.ingest(
        session, principal, "credit_reports", [body.model_dump(mode="json", exclude_unset=True)]
    )
    return single_result(report, response)


@router.post("/credit-reports/batch", response_model=IntakeReport)
def add_reports(body: BatchIn, session: SessionDep, principal: CanCustomersWrite) -> IntakeReport:
    """Up to 10,000 bureau reports."""
    return intake.ingest(
        session, principal, "credit_reports", body.records, skip_invalid=body.skip_invalid
    )


@router.get("/customers/{customer_id}/documents", response_model=list[DocumentRead])
def list_documents(
    customer_id: PathId, session: SessionDep, principal: CanDocumentsRead
) -> list[DocumentRead]:
    """Attached documents."""
    service.get_customer_or_raise(session, principal, customer_id)
    return [DocumentRead.model_validate(d) for d in repo.documents_of(session, customer_id)]


@router.post("/customers/{customer_id}/documents", response_model=DocumentRead, status_code=201)
def upload_document(
    customer_id: PathId,
    request: Request,
    session: SessionDep,
    principal: CanDocumentsWrite,
    file: Annotated[UploadFile, File()],
    category: Annotated[str | None, Form(max_length=64)] = None,
    description: Annotated[str | None, Form(max_length=2000)] = None,
) -> DocumentRead:
    """Attach a file (PDF, image, spreadsheet, text; at most 20 MB)."""
    content = file.file.read(service.MAX_DOCUMENT_BYTES + 1)
    doc = service.store_document(
        session,
        principal,
        customer_id,
        filename=file.filename or "file",
        content=content,
        data_dir=request.app.state.settings.data_dir,
        category=category,
        description=description,
    )
    return DocumentRead.model_validate(doc)


@router.get("/customers/{customer_id}/documents/{document_id}/content", response_class=FileResponse)
def download_document(
    customer_id: PathId,
    document_id: PathId,
    request: Request,
    session: SessionDep,
    principal: CanDocumentsRead,
) -> FileResponse:
    """The stored file."""
    doc = service.get_document_or_raise(session, principal, customer_id, document_id)
    trail.viewed(  # documents are often ID cards and contracts: who opened which is kept
        session,
        object_type="customer",
        object_id=customer_id,
        fields=[f"document.{doc.id}"],
    )
    path = service.document_path(request.app.state.settings.data_dir, doc.sha256)
    if not path.exists():
        raise NotFound(
            "the document's file is missing from storage", field="document_id", code="file_missing"
        )
    return FileResponse(path, media_type=doc.content_type, filename=doc.filename)


@router.get("/customers/{customer_id}/events")
def recent_events(
    customer_id: PathId,
    session: SessionDep,
    principal: CanEventsRead,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The customer's latest events of every kind, newest first."""
    service.get_customer_or_raise(session, principal, customer_id)
    return event_repo.recent_events(session, customer_id, limit)


# The queue answered up to 500 changes before it paged; a client that asks for no page still
# gets as many.
PENDING_PAGE_SIZE = 500


@router.get(
    "/pending-changes",
    response_model=list[PendingChangeRead],
    responses={200: {"headers": {"X-Total-Count": {"schema": {"type": "integer"}}}}},
)
def list_pending(
    session: SessionDep,
    principal: CanCustomersRead,
    response: Response,
    status: Annotated[str, Query(pattern="^(pending|approved|rejected|withdrawn)$")] = "pending",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=1, le=PENDING_PAGE_SIZE)] = PENDING_PAGE_SIZE,
    sort: Annotated[
        str,
        Query(
            pattern="^-?(requested|customer)$",
            description="requested (when asked) or customer (its number); - descending",
        ),
    ] = "requested",
) -> list[PendingChangeRead]:
    """The approval queue, a page at a time, oldest first unless ``sort`` says otherwise.
    The total is in X-Total-Count."""
    rows, total = service.page_pending(
        session, principal, status=status, page=PageParams(page, size), sort=sort
    )
    response.headers["X-Total-Count"] = str(total)
    return rows


@router.post("/pending-changes/{change_id}/approve", response_model=PendingChangeRead)
def approve(
    change_id: PathId, body: Decision, session: SessionDep, principal: CanChangesApprove
) -> PendingChangeRead:
    """Approve and apply a change (not your own)."""
    change = service.approve_change(session, principal, change_id, body.comment)
    return service.pending_read(session, principal, [change])[0]


@router.post("/pending-changes/{change_id}/reject", response_model=PendingChangeRead)
def reject(
    change_id: PathId, body: Decision, session: SessionDep, principal: CanCustomersRead
) -> PendingChangeRead:
    """Reject a change (approvers), or withdraw your own."""
    change = service.reject_change(session, principal, change_id, body.comment)
    return service.pending_read(session, principal, [change])[0]


@router.get("/duplicates", response_model=list[DuplicateCandidate])
def duplicates(
    session: SessionDep,
    principal: CanCustomersMerge,
    threshold: Annotated[float, Query(ge=50, le=100)] = 92.0,
) -> list[DuplicateCandidate]:
    """Customers that look like the same one: same tax id or near-identical names."""
    return duplicate_candidates(session, principal, threshold)


def duplicate_candidates(
    session: Any, principal: Principal, threshold: float
) -> list[DuplicateCandidate]:
    """Duplicate pairs with both customers summarised."""
    pairs = service.find_duplicates(session, threshold=threshold)
    ids = sorted({p.first_id for p in pairs} | {p.second_id for p in pairs})
    rows = repo.customers_with_profiles(session, ids)
    owners = repo.owners_of(session, [c.owner_id for c, _ in rows.values() if c.owner_id])
    out = []
    for p in pairs:
        a, b = rows[p.first_id], rows[p.second_id]
        out.append(
            DuplicateCandidate(
                first=service.summary(a[0], a[1], owners.get(a[0].owner_id or 0)),
                second=service.summary(b[0], b[1], owners.get(b[0].owner_id or 0)),
                reason=p.reason,
                similarity=round(p.similarity, 1),
            )
        )
    return out


@router.post("/customers/{customer_id}/merge", response_model=CustomerRead)
def merge(
    customer_id: PathId, body: MergeRequest, session: SessionDep, principal: CanCustomersMerge
) -> CustomerRead:
    """Merge another customer (a duplicate) into this one: its events, exposure, reservations,
    held orders, alerts and consents move here (docs/architecture.md lists what moves)."""
    merge_pipeline.merge_customers(
        session,
        principal,
        survivor_id=customer_id,
        duplicate_id=body.duplicate_id,
        reason=body.reason,
    )
    return service.read_customer(session, principal, customer_id)
