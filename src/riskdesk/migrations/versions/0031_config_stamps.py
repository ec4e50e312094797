"""config_stamps: what a process caches of the configuration is checked against a stamp

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 03:40:00

The order credit check caches its configuration (the check steps and which exposure categories
count in the limit) per process. Triggers give the 'credit_check' row a new random stamp on
every insert, update or delete of those tables, whoever writes them (any API node, the CLI, a
later migration, SQL by hand); a check reads the stamp with its data and reloads when it
differs. Random, not a counter: a rolled-back change puts the old stamp back, with the old
content, and a later change never reuses a stamp some process cached for content that was
rolled back.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("credit_check_rules", "exposure_categories")
OPERATIONS = ("INSERT", "UPDATE", "DELETE")
RESTAMP = "UPDATE config_stamps SET stamp = {value} WHERE name = 'credit_check'"
PG_FUNCTION = (
    "CREATE FUNCTION riskdesk_restamp_credit_check() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    + RESTAMP.format(value="floor(random() * 4611686018427387903)::bigint")
    + "; RETURN NULL; END $$"
)
PG_TRIGGER = (
    "CREATE TRIGGER trg_{table}_restamp AFTER INSERT OR UPDATE OR DELETE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION riskdesk_restamp_credit_check()"
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER trg_{table}_restamp_{operation} AFTER {operation} ON {table} "
    "BEGIN " + RESTAMP.format(value="random()") + "; END"
)


def upgrade() -> None:
    table = op.create_table(
        "config_stamps",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_config_stamps")),
    )
    op.bulk_insert(table, [{"name": "credit_check", "stamp": secrets.randbits(62)}])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for watched in WATCHED:
            op.execute(PG_TRIGGER.format(table=watched))
        return
    for watched in WATCHED:
        for operation in OPERATIONS:
            op.execute(SQLITE_TRIGGER.format(table=watched, operation=operation))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for watched in WATCHED:
        if postgres:
            op.execute(sa.text("DROP TRIGGER trg_" + watched + "_restamp ON " + watched))
            continue
        for operation in OPERATIONS:
            op.execute(sa.text("DROP TRIGGER trg_" + watched + "_restamp_" + operation))
    if postgres:
        op.execute("DROP FUNCTION riskdesk_restamp_credit_check()")
    op.drop_table("config_stamps")
