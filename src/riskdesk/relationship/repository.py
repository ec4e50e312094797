"""SQL of the relationship view: a customer's interactions and contracts, notes searched."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from riskdesk.db import count_rows
from riskdesk.models import Contract, Customer, Interaction, User

CONTRACTS_SHOWN = 200  # a credit file lists at most this many contracts, the latest first


def _matching(words: Sequence[str]) -> Any:
    """Every word in the notes or the next step (case-insensitive; % and _ taken literally)."""
    return and_(
        *(
            or_(
                Interaction.note.icontains(word, autoescape=True),
                Interaction.next_step.icontains(word, autoescape=True),
            )
            for word in words
        )
    )


def _interactions(
    columns: Sequence[Any],
    *,
    customer_id: int | None,
    owner_ids: tuple[int, ...] | None,
    words: Sequence[str],
) -> Any:
    stmt = (
        select(Interaction, User.display_name, *columns)
        .outerjoin(User, User.id == Interaction.recorded_by_id)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    )
    if customer_id is not None:
        stmt = stmt.where(Interaction.customer_id == customer_id)
    if owner_ids is not None or columns:
        stmt = stmt.join(Customer, Customer.id == Interaction.customer_id)
    if owner_ids is not None:
        stmt = stmt.where(Customer.owner_id.in_(owner_ids))
    if words:
        stmt = stmt.where(_matching(words))
    return stmt


def interactions_of(
    session: Session, customer_id: int, *, words: Sequence[str], offset: int, limit: int
) -> tuple[list[tuple[Interaction, str | None]], int]:
    """A customer's interactions (those whose notes hold every word), newest first, with the
    recording user's name; and how many there are."""
    stmt = _interactions((), customer_id=customer_id, owner_ids=None, words=words)
    rows = session.execute(stmt.offset(offset).limit(limit)).all()
    return [(i, name) for i, name in rows], count_rows(session, stmt)


def search_interactions(
    session: Session,
    *,
    words: Sequence[str],
    owner_ids: tuple[int, ...] | None,
    offset: int,
    limit: int,
) -> tuple[list[tuple[Interaction, str | None, Customer]], int]:
    """Interactions whose notes hold every word, of the customers owned by ``owner_ids`` (None:
    all), newest first, with the recording user's name and the customer; and how many."""
    stmt = _interactions((Customer,), customer_id=None, owner_ids=owner_ids, words=words)
    rows = session.execute(stmt.offset(offset).limit(limit)).all()
    return [(i, name, c) for i, name, c in rows], count_rows(session, stmt)


def contracts_of(session: Session, customer_id: int) -> list[Contract]:
    """A customer's contracts, the latest signed first."""
    stmt = (
        select(Contract)
        .where(Contract.customer_id == customer_id)
        .order_by(Contract.signed_on.desc(), Contract.id.desc())
        .limit(CONTRACTS_SHOWN)
    )
    return list(session.scalars(stmt))
