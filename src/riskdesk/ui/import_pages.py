"""Importing files (templates, saved mappings, a job's progress) and merging duplicate
customers."""

from __future__ import annotations

import contextlib
import threading
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from riskdesk.audit.trail import context_of
from riskdesk.customers import repository as customer_repo
from riskdesk.customers.endpoints import duplicate_candidates
from riskdesk.db import SessionDep
from riskdesk.kit.encodings import check_encoding_name
from riskdesk.kit.errors import NotFound, PayloadTooLarge, ValidationFailed
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.kit.validation import DB_ID_MAX, PathId
from riskdesk.pipeline import guide as import_guide
from riskdesk.pipeline import intake, mappings, processing
from riskdesk.pipeline import merge as merge_pipeline
from riskdesk.pipeline import repository as import_repo
from riskdesk.pipeline.deps import ProgressBoardDep
from riskdesk.pipeline.endpoints import read_upload, template_response
from riskdesk.security import repository as users_repo
from riskdesk.security import service as security_service
from riskdesk.security.deps import CanCustomersMerge, CanImportsRun
from riskdesk.ui import import_view
from riskdesk.ui.i18n import Translator, pick_locale
from riskdesk.ui.render import render

router = APIRouter(include_in_schema=False)


@router.get("/imports", response_class=HTMLResponse)
def imports_page(
    request: Request,
    session: SessionDep,
    principal: CanImportsRun,
    deleted: Annotated[str | None, Query(max_length=5)] = None,
) -> Response:
    """Upload a file to import; the templates and field guide of each kind; saved mappings."""
    return render(
        request,
        "imports.html",
        principal,
        kinds=intake.KINDS,
        guides={k: import_guide.fields_of(k) for k in intake.KINDS},
        type_label=import_guide.type_label,
        choices_text=import_guide.choices_text,
        encodings=IMPORT_ENCODINGS,
        limits=intake.file_limits(request.app.state.settings),
        jobs=import_repo.list_jobs(session, user_id=None, limit=20),
        saved_mappings=import_repo.list_mappings(session),
        deleted=deleted == "1",
    )


@router.get("/imports/templates/{filename}")
def import_template(
    request: Request,
    filename: Annotated[str, Path(max_length=64)],
    principal: CanImportsRun,
) -> Response:
    """A kind's template, its example values in the page's language."""
    return template_response(
        filename, pick_locale(request, request.app.state.settings.default_locale)
    )


@router.post("/imports/mappings/{mapping_id}/delete")
def delete_import_mapping(
    mapping_id: PathId, session: SessionDep, principal: CanImportsRun
) -> Response:
    """Forget a saved mapping (one already gone: nothing to do)."""
    mappings.delete(session, mapping_id)
    return RedirectResponse("/imports?deleted=1#saved-mappings", status_code=303)


@router.post("/imports")
def start_import(
    request: Request,
    session: SessionDep,
    principal: CanImportsRun,
    kind: Annotated[str, Form(max_length=32)],
    file: Annotated[UploadFile, File()],
    mapping: Annotated[str | None, Form(max_length=20000)] = None,
    saved_mapping: Annotated[str | None, Form(max_length=12)] = None,
    mapping_name: Annotated[str | None, Form(max_length=64)] = None,
    skip_invalid: Annotated[str | None, Form(max_length=5)] = None,
    encoding: Annotated[str | None, Form(max_length=40)] = None,
) -> Response:
    """Start an import in the background and show its progress. A mapping typed in wins over
    the saved one chosen; with a source's name it is saved for this kind first."""
    intake.handler_for(kind)
    if encoding:
        check_encoding_name(encoding)
    text = mapping.strip() if mapping and mapping.strip() else None
    if text is None and saved_mapping:
        if not saved_mapping.isdigit():
            raise ValidationFailed("choose a saved mapping from the list", field="saved_mapping")
        chosen = mappings.get_or_raise(session, int(saved_mapping))
        if chosen.kind != kind:
            raise ValidationFailed(
                f"the saved mapping {chosen.name!r} is for {chosen.kind}, not {kind}",
                field="saved_mapping",
                code="kind_mismatch",
            )
        text = chosen.mapping
    if mapping_name and mapping_name.strip():
        if text is None:
            raise ValidationFailed("type the mapping to save", field="mapping", code="missing")
        mappings.save(session, principal, name=mapping_name, kind=kind, text=text)
    content = read_upload(file, request.app.state.settings.max_upload_mb)
    column_mapping = ColumnMapping.from_yaml(text) if text else None
    job = intake.create_job(
        session,
        principal,
        kind=kind,
        filename=file.filename or "upload",
        content=content,
        skip_invalid=skip_invalid == "on",
    )
    session.commit()
    factory = request.app.state.sessionmaker
    user_id = principal.user_id

    audit_ctx = context_of(session)

    def load(s: Any) -> Any:
        s.info["audit_ctx"] = audit_ctx  # the import's own transactions are the user's doing
        user = users_repo.get_user(s, user_id)
        assert user is not None
        return security_service.principal_for(s, user, via="session")

    threading.Thread(
        target=_run_import,
        name=f"import-{job.id}",
        daemon=True,
        args=(factory, load, job.id, request.app.state.settings),
        kwargs={
            "kind": kind,
            "content": content,
            "filename": file.filename or "upload",
            "mapping": column_mapping,
            "skip_invalid": skip_invalid == "on",
            "encoding": encoding or None,
            "limits": intake.file_limits(request.app.state.settings),
            "shared": request.app.state.shared_redis,
        },
    ).start()
    return RedirectResponse(f"/imports/{job.id}", status_code=303)


IMPORT_ENCODINGS = ("", "utf-8", "gb18030", "utf-16")  # "": recognise


def _run_import(factory: Any, load: Any, job_id: int, settings: Any, **kwargs: Any) -> None:
    with contextlib.suppress(PayloadTooLarge):  # the job records it, and its page says so
        result = intake.run_job(factory, load, job_id, **kwargs)
        if result.queued and settings.event_wait_seconds > 0:
            processing.wait_for(factory, result.queued, settings.event_wait_seconds, settings)


@router.get("/imports/{job_id}", response_class=HTMLResponse)
def import_job_page(
    request: Request,
    job_id: PathId,
    session: SessionDep,
    principal: CanImportsRun,
    board: ProgressBoardDep,
) -> Response:
    """An import's progress, then its outcome."""
    job = import_repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"no import {job_id}", field="job_id")
    done, total = intake.progress_of(job, board)
    template = (
        "partials/import_progress.html" if request.headers.get("HX-Request") else "import_job.html"
    )
    return render(
        request,
        template,
        principal,
        job=job,
        done=done,
        total=total,
        percent=int(100 * done / total) if total else 0,
        outcome=import_view.outcome(
            job, Translator(pick_locale(request, request.app.state.settings.default_locale))
        ),
    )


@router.get("/duplicates", response_class=HTMLResponse)
def duplicates_page(
    request: Request,
    session: SessionDep,
    principal: CanCustomersMerge,
    merged: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Customers that look like the same one, with a merge."""
    return render(
        request,
        "duplicates.html",
        principal,
        candidates=duplicate_candidates(session, principal, 92.0),
        merged=merged,
    )


@router.post("/duplicates/merge")
def merge(
    session: SessionDep,
    principal: CanCustomersMerge,
    survivor_id: Annotated[int, Form(ge=1, le=DB_ID_MAX)],
    duplicate_id: Annotated[int, Form(ge=1, le=DB_ID_MAX)],
    reason: Annotated[str, Form(min_length=3, max_length=2000)],
) -> Response:
    """Merge the duplicate into the survivor."""
    survivor = merge_pipeline.merge_customers(
        session, principal, survivor_id=survivor_id, duplicate_id=duplicate_id, reason=reason
    )
    dup_code = customer_repo.customer_code(duplicate_id)
    return RedirectResponse(f"/duplicates?merged={dup_code}:{survivor.code}", status_code=303)
