"""Whose data a question may read. Access control (bot/) builds a Scope; queries filter by it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """`owner_ids=None` means every owner (exec, revops); otherwise only deals and accounts owned
    by these users. `label` is how replies name it: "your deals", "EMEA", "everyone"."""

    label: str
    owner_ids: frozenset[int] | None = None
    team_ids: frozenset[int] | None = None
    show_amounts: bool = True  # customer success sees accounts and renewals, not deal amounts

    @classmethod
    def everyone(cls) -> Scope:
        return cls(label="everyone")

    @classmethod
    def of_owners(cls, label: str, owner_ids: set[int] | frozenset[int]) -> Scope:
        return cls(label=label, owner_ids=frozenset(owner_ids))

    @property
    def is_everyone(self) -> bool:
        return self.owner_ids is None

    def includes_owner(self, owner_id: int | None) -> bool:
        return self.owner_ids is None or (owner_id is not None and owner_id in self.owner_ids)
