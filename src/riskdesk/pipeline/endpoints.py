"""API of file imports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from riskdesk.audit.trail import context_of
from riskdesk.db import SessionDep
from riskdesk.kit.encodings import check_encoding_name
from riskdesk.kit.errors import NotFound, PayloadTooLarge, ValidationFailed
from riskdesk.kit.exports import MEDIA_TYPES
from riskdesk.kit.messages import LOCALES, choose_locale
from riskdesk.kit.tabular import ColumnMapping
from riskdesk.kit.validation import PathId
from riskdesk.models import ImportJob
from riskdesk.pipeline import guide, intake, mappings, processing
from riskdesk.pipeline import repository as repo
from riskdesk.pipeline.deps import ProgressBoardDep
from riskdesk.pipeline.progress import ProgressBoard
from riskdesk.pipeline.schemas import (
    FieldChoice,
    FieldGuideRead,
    ImportJobRead,
    ImportResult,
    KindGuideRead,
    MappingRead,
    MappingSave,
)
from riskdesk.security import repository as users_repo
from riskdesk.security import service as security_service
from riskdesk.security.deps import CanImportsRun

router = APIRouter(tags=["imports"])


def read_upload(file: UploadFile, max_mb: int) -> bytes:
    """The uploaded bytes, refusing files over the limit."""
    content = file.file.read(max_mb * 1024 * 1024 + 1)
    if len(content) > max_mb * 1024 * 1024:
        raise PayloadTooLarge(f"files are limited to {max_mb} MB", field="file")
    return content


@router.post("/imports", response_model=ImportResult)
async def import_file(
    request: Request,
    session: SessionDep,
    principal: CanImportsRun,
    kind: Annotated[
        str,
        Form(
            description="customers, statements, credit_reports, orders, "
            "invoices, payments, returns, complaints, surveys, interactions "
            "or contracts"
        ),
    ],
    file: Annotated[UploadFile, File(description="CSV or Excel")],
    mapping: Annotated[
        str | None,
        Form(
            description="column mapping as YAML or JSON: columns (field: column), defaults "
            "(field: value) and values (field: {value in the file: value})"
        ),
    ] = None,
    mapping_name: Annotated[
        str | None,
        Form(max_length=64, description="a mapping saved for this kind (PUT /imports/mappings)"),
    ] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    encoding: Annotated[
        str | None,
        Form(
            max_length=40,
            description="a CSV file's encoding (utf-8, gb18030, gbk, utf-16, ...); when left "
            "out, UTF-8 (with or without BOM), UTF-16 and GB18030/GBK are recognised",
        ),
    ] = None,
    wait: Annotated[
        float | None,
        Form(
            ge=0,
            le=600,
            description="seconds to wait, once the rows are committed, for their processing "
            "(indicators, rules, alerts); left out: RISKDESK_EVENT_WAIT_SECONDS",
        ),
    ] = None,
) -> ImportResult:
    """Import a file: every row is checked first, and invalid rows stop it with nothing written
    unless skip_invalid is set; then it is written in short transactions of 500 rows, each
    moving the job's cursor (GET /imports/{id} shows it). A process that dies part way leaves
    the job interrupted with the rows written; sending the same file again imports the rest.

    Files over RISKDESK_IMPORT_MAX_ROWS rows, or Excel files that unpack beyond
    RISKDESK_IMPORT_MAX_UNCOMPRESSED_MB, are refused with 413 before their rows are read."""
    intake.handler_for(kind)
    if encoding:
        check_encoding_name(encoding)
    if mapping and mapping_name:
        raise ValidationFailed("give a mapping or a mapping_name, not both", field="mapping_name")
    if mapping_name:
        saved = await run_in_threadpool(mappings.named, session, mapping_name, kind)
        mapping = saved.mapping
    content = await run_in_threadpool(read_upload, file, request.app.state.settings.max_upload_mb)
    column_mapping = ColumnMapping.from_yaml(mapping) if mapping else None
    user_id = principal.user_id
    via = principal.via
    audit_ctx = context_of(session)
    # The import writes in transactions of its own; the request's (which checked the token and
    # on SQLite holds the write lock) must end first, or the import waits on it and times out.
    await run_in_threadpool(session.commit)

    def load(own: object) -> security_service.Principal:
        # The import runs in its own transactions, so it loads the caller afresh in each.
        from sqlalchemy.orm import Session

        assert isinstance(own, Session)
        own.info["audit_ctx"] = audit_ctx  # its entries name the caller, not "system"
        session = own
        user = users_repo.get_user(session, user_id)
        assert user is not None
        scopes = None
        if via == "token" and principal.token_id is not None:
            token = users_repo.get_token(session, principal.token_id)
            scopes = token.scopes if token else []
        return security_service.principal_for(session, user, via=via, scopes=scopes)

    result = await run_in_threadpool(
        intake.import_file,
        request.app.state.sessionmaker,
        load,
        kind=kind,
        content=content,
        filename=file.filename or "upload.csv",
        mapping=column_mapping,
        skip_invalid=skip_invalid,
        encoding=encoding or None,
        limits=intake.file_limits(request.app.state.settings),
        channel="import",
        shared=request.app.state.shared_redis,
    )
    settings = request.app.state.settings
    seconds = settings.event_wait_seconds if wait is None else wait
    if result.report is not None and result.queued and seconds > 0:
        done = await run_in_threadpool(
            processing.wait_for, request.app.state.sessionmaker, result.queued, seconds, settings
        )
        result.report.processing = "done" if done else "queued"
    return ImportResult(job=ImportJobRead.model_validate(result.job), report=result.report)


def _job_read(job: ImportJob, board: ProgressBoard | None) -> ImportJobRead:
    read = ImportJobRead.model_validate(job)
    if job.status == "running":
        done, total = intake.progress_of(job, board)
        read = read.model_copy(update={"processed_rows": done, "total_rows": total})
    return read


def kind_guide(kind: str) -> KindGuideRead:
    """A kind's field guide as the API gives it."""
    return KindGuideRead(
        kind=kind,
        fields=[
            FieldGuideRead(
                name=g.name,
                labels={loc: g.label(loc) for loc in LOCALES},
                required=g.required,
                type=g.type,
                choices=[
                    FieldChoice(code=c, labels={loc: g.choice_label(c, loc) for loc in LOCALES})
                    for c in g.choices
                ],
            )
            for g in guide.fields_of(kind)
        ],
        templates={fmt: f"/api/v1/imports/templates/{kind}.{fmt}" for fmt in ("xlsx", "csv")},
    )


@router.get("/imports/templates", response_model=list[KindGuideRead])
def list_templates(principal: CanImportsRun) -> list[KindGuideRead]:
    """Every kind of file with its fields: required or not, type, allowed values (each with its
    label in both languages, which a file may give instead of the code), and its templates."""
    return [kind_guide(k) for k in intake.KINDS]


def template_response(filename: str, locale: str) -> Response:
    """A kind's template file (``customers.xlsx``, ``orders.csv``)."""
    kind, _, fmt = filename.rpartition(".")
    if fmt not in ("xlsx", "csv"):
        raise NotFound(f"no template {filename!r}; use <kind>.xlsx or <kind>.csv", field="filename")
    intake.handler_for(kind)
    return Response(
        guide.template_bytes(kind, fmt, locale),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{kind}-template.{fmt}"'},
    )


@router.get("/imports/templates/{filename}")
def get_template(
    request: Request,
    filename: Annotated[str, Path(max_length=64)],
    principal: CanImportsRun,
    lang: Annotated[str | None, Query(pattern="^(zh-CN|en)$")] = None,
) -> Response:
    """A template: the kind's fields as the header row and an example row (enumerated values
    as labels in ``lang``, else the Accept-Language's); the .xlsx has the field guide, in
    both languages, as its second sheet."""
    locale = lang or choose_locale(None, request.headers.get("accept-language", ""))
    return template_response(filename, locale)


@router.get("/imports/mappings", response_model=list[MappingRead])
def list_mappings(session: SessionDep, principal: CanImportsRun) -> list[MappingRead]:
    """The column mappings saved per source system and kind."""
    return [MappingRead.model_validate(m) for m in repo.list_mappings(session)]


@router.put("/imports/mappings", response_model=MappingRead)
def save_mapping(body: MappingSave, session: SessionDep, principal: CanImportsRun) -> MappingRead:
    """Save a mapping under a source's name for a kind (replacing the one saved there); POST
    /imports takes it as mapping_name. Saving the same mapping again changes nothing."""
    saved = mappings.save(session, principal, name=body.name, kind=body.kind, text=body.mapping)
    return MappingRead.model_validate(saved)


@router.delete("/imports/mappings/{mapping_id}", status_code=204)
def delete_mapping(mapping_id: PathId, session: SessionDep, principal: CanImportsRun) -> Response:
    """Forget a saved mapping (one already gone: nothing to do)."""
    mappings.delete(session, mapping_id)
    return Response(status_code=204)


@router.get("/imports", response_model=list[ImportJobRead])
def list_imports(
    session: SessionDep, principal: CanImportsRun, board: ProgressBoardDep
) -> list[ImportJobRead]:
    """Latest imports, running ones with their progress."""
    return [_job_read(j, board) for j in repo.list_jobs(session, user_id=None)]


@router.get("/imports/{job_id}", response_model=ImportJobRead)
def get_import(
    job_id: PathId, session: SessionDep, principal: CanImportsRun, board: ProgressBoardDep
) -> ImportJobRead:
    """One import, with its progress and errors."""
    job = repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"no import {job_id}", field="job_id")
    return _job_read(job, board)
