"""What an intake route adds: the client's ``wait`` for processing, the answer's header, and
where running imports share their progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from riskdesk.pipeline import processing
from riskdesk.pipeline.progress import ProgressBoard, board_for

PROCESSING_HEADER = "Riskdesk-Processing"
WaitQuery = Annotated[
    float | None,
    Query(
        ge=0,
        le=60,
        description="Seconds to wait for the records' processing (indicators, rules, alerts) "
        "before answering; left out: the server's RISKDESK_EVENT_WAIT_SECONDS (0 by default: "
        "answer once the records are committed). The answer's Riskdesk-Processing header "
        "(and a batch's `processing`) says `done` or `queued`.",
    ),
]


def settle(
    request: Request, session: Session, response: Response, wait: float | None
) -> processing.Processing:
    """Commit the intake, wait for its processing as the client asked, and say how far it got
    in the answer's header; "done" or "queued"."""
    state = processing.settle(
        session, request.app.state.sessionmaker, request.app.state.settings, wait
    )
    response.headers[PROCESSING_HEADER] = state
    return state


def progress_board(request: Request) -> ProgressBoard | None:
    """Where this node's imports publish, and every node reads, running imports' progress."""
    return board_for(request.app.state.sessionmaker.kw["bind"], request.app.state.shared_redis)


ProgressBoardDep = Annotated[ProgressBoard | None, Depends(progress_board)]
