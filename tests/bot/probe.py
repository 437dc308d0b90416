"""`/probe`: a test-only command that lists the deals in the scope access control granted, so
infrastructure tests (role matrix, share, audit) don't depend on how a real command renders.

Grammar: "" (self) · "team NAME" · "user FIRSTNAME" · "all" · "account NAME" · "boom" (raises).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select

from commands.registry import REGISTRY, Command, CommandContext, ParseContext, Subject, UsageError
from commands.rendering import Message, escape_mrkdwn, header_block, section_blocks
from storage.models import Account, Deal, Team, User


def parse(text: str, ctx: ParseContext) -> tuple[str, Subject]:
    words = text.split()
    if not words:
        return "", Subject("self")
    head, rest = words[0].lower(), " ".join(words[1:])
    if head == "all" and not rest:
        return "", Subject("everyone", label="everyone")
    if head == "boom":
        return "boom", Subject("self")
    if head in ("team", "user", "account") and rest:
        model, column = {"team": (Team, Team.name), "user": (User, User.name), "account": (Account, Account.name)}[head]
        found = ctx.session.scalar(select(model.id).where(func.lower(column).like(f"{rest.lower()}%")))
        if found is None:
            raise UsageError(f"no {head} called {rest!r}")
        return "", Subject(head, found, rest)  # type: ignore[arg-type]
    raise UsageError(f"I don't understand {text!r}")


def run(args: str, ctx: CommandContext) -> Message:
    if args == "boom":
        raise RuntimeError("probe exploded on purpose")
    query = select(Deal.name, Deal.amount).order_by(Deal.name)
    if ctx.scope.owner_ids is not None:
        query = query.where(Deal.owner_id.in_(ctx.scope.owner_ids))
    rows = ctx.session.execute(query).all()
    shown = [(name, f"{amount:,.0f}" if ctx.scope.show_amounts else "hidden") for name, amount in rows]
    lines = [f"{escape_mrkdwn(name)}: {amount}" for name, amount in shown]
    blocks = [header_block(f"Deals for {ctx.scope.label}"), *section_blocks("\n".join(lines) or "no deals")]
    return Message(text=f"{len(rows)} deals for {escape_mrkdwn(ctx.scope.label)}", blocks=blocks)


PROBE = Command(
    name="probe",
    description="Lists the deals in the caller's scope (tests only)",
    usage_hint="[team NAME|user NAME|account NAME|all]",
    examples=("", "team emea"),
    parse=parse,
    run=run,
)


@contextmanager
def probe_registered() -> Iterator[Command[str]]:
    REGISTRY[PROBE.name] = PROBE
    try:
        yield PROBE
    finally:
        REGISTRY.pop(PROBE.name, None)
