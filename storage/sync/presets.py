"""Which column of an export holds which field. Labels vary by org and by who built the report,
so every field accepts several aliases; a mapping file (--mapping) overrides them.

Matching ignores case, surrounding spaces and repeated spaces. The chosen format's aliases are
tried first, then the generic ones, so a Salesforce report with snake_case columns still works.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from storage.sync.problems import SyncInputError

FORMATS = ("salesforce", "hubspot", "generic")
OBJECTS = ("deals", "accounts", "users", "subscriptions", "health", "targets")


@dataclass(frozen=True)
class Field:
    name: str
    required: bool = False
    salesforce: tuple[str, ...] = ()
    hubspot: tuple[str, ...] = ()
    generic: tuple[str, ...] = ()

    def aliases(self, fmt: str) -> tuple[str, ...]:
        own: tuple[str, ...] = getattr(self, fmt)
        return own + tuple(a for a in (self.generic + (self.name,)) if a not in own)


DEAL_FIELDS: tuple[Field, ...] = (
    Field(
        "crm_id",
        True,
        ("Opportunity ID", "Opportunity 18 Digit ID", "Opportunity ID (18)", "Id"),
        ("Record ID", "Deal ID", "hs_object_id"),
        ("id", "deal_id", "Deal ID"),
    ),
    Field("name", True, ("Opportunity Name", "Name"), ("Deal Name", "dealname"), ("name", "deal_name", "deal")),
    Field(
        "account",
        False,
        ("Account Name", "Account"),
        ("Associated Company", "Associated Company (Primary)", "Company", "Company name"),
        ("account", "account_name", "company"),
    ),
    Field(
        "account_crm_id",
        False,
        ("Account ID", "Account 18 Digit ID"),
        ("Associated Company ID", "Associated Company IDs (Primary)", "Company ID"),
        ("account_id",),
    ),
    Field(
        "owner",
        False,
        ("Opportunity Owner", "Owner", "Owner Name", "Opportunity Owner Email", "Owner Email"),
        ("Deal owner", "Deal Owner", "HubSpot Owner", "Owner"),
        ("owner", "owner_email", "owner_name", "rep"),
    ),
    Field(
        "owner_crm_id",
        False,
        ("Opportunity Owner ID", "Owner ID"),
        ("Deal owner ID", "hubspot_owner_id"),
        ("owner_id",),
    ),
    Field("stage", True, ("Stage", "Stage Name"), ("Deal Stage", "dealstage"), ("stage",)),
    Field(
        "amount",
        False,
        ("Amount", "Total Amount", "Opportunity Amount", "Amount (converted)"),
        ("Amount", "Amount in company currency", "amount"),
        ("amount", "value"),
    ),
    Field(
        "currency",
        False,
        ("Currency", "Opportunity Currency", "Amount Currency"),
        ("Currency", "Deal currency code"),
        ("currency",),
    ),
    Field(
        "probability", False, ("Probability (%)", "Probability"), ("Deal probability", "Probability"), ("probability",)
    ),
    Field(
        "forecast_category",
        False,
        ("Forecast Category", "Forecast Category Name"),
        ("Forecast category", "Deal forecast category"),
        ("forecast_category",),
    ),
    Field("close_date", False, ("Close Date",), ("Close Date",), ("close_date",)),
    Field(
        "created_at", False, ("Created Date", "Create Date"), ("Create Date", "Created Date"), ("created_at", "created")
    ),
    Field(
        "last_activity_at",
        False,
        ("Last Activity", "Last Activity Date"),
        ("Last Activity Date",),
        ("last_activity_at", "last_activity"),
    ),
    Field(
        "stage_entered_at",
        False,
        ("Last Stage Change Date", "Stage Entered Date"),
        ("Date entered current stage",),
        ("stage_entered_at",),
    ),
    Field("type", False, ("Type", "Opportunity Type"), ("Deal Type", "dealtype"), ("type", "deal_type")),
    Field(
        "source",
        False,
        ("Lead Source", "Source"),
        ("Original Source", "Deal source", "Original Source Type"),
        ("source", "lead_source"),
    ),
)

ACCOUNT_FIELDS: tuple[Field, ...] = (
    Field("crm_id", False, ("Account ID", "Account 18 Digit ID", "Id"), ("Record ID", "Company ID"), ("id",)),
    Field("name", True, ("Account Name", "Name"), ("Company name", "Name"), ("name", "account", "account_name")),
    Field("owner", False, ("Account Owner", "Owner", "Account Owner Email"), ("Company owner", "Owner"), ("owner",)),
    Field("segment", False, ("Segment", "Customer Segment"), ("Segment",), ("segment",)),
    Field("industry", False, ("Industry",), ("Industry",), ("industry",)),
    Field(
        "region",
        False,
        ("Region", "Billing Country", "Billing State/Province"),
        ("Country/Region", "Region"),
        ("region", "country"),
    ),
    Field(
        "is_target_account",
        False,
        ("Target Account", "Is Target Account"),
        ("Target account", "Target Account"),
        ("is_target_account", "target_account"),
    ),
)

USER_FIELDS: tuple[Field, ...] = (
    Field("crm_id", False, ("User ID", "Id"), ("Owner ID", "User ID"), ("id", "crm_id")),
    Field("name", True, ("Full Name", "Name"), ("Name", "First and last name"), ("name",)),
    Field("email", False, ("Email",), ("Email",), ("email",)),
    Field("role", False, ("Role", "revbot Role"), ("Role",), ("role",)),
    Field("team", False, ("Team",), ("Team",), ("team",)),
    Field("manager", False, ("Manager", "Manager Email"), ("Manager", "Manager Email"), ("manager", "manager_email")),
    Field("slack_user_id", False, ("Slack User ID",), ("Slack User ID",), ("slack_user_id", "slack_id")),
)

SUBSCRIPTION_FIELDS: tuple[Field, ...] = (
    Field("account", False, ("Account Name",), ("Associated Company", "Company name"), ("account", "account_name")),
    Field("account_crm_id", False, ("Account ID",), ("Company ID",), ("account_id",)),
    Field("product", True, ("Product", "Product Name"), ("Product", "Name"), ("product",)),
    Field("mrr", False, ("MRR", "Monthly Amount"), ("MRR", "Monthly recurring revenue"), ("mrr",)),
    Field("arr", False, ("ARR", "Annual Amount"), ("ARR", "Annual recurring revenue"), ("arr",)),
    Field("currency", False, ("Currency",), ("Currency",), ("currency",)),
    Field("start_date", True, ("Start Date", "Subscription Start Date"), ("Start date",), ("start_date", "start")),
    Field("end_date", False, ("End Date", "Renewal Date"), ("End date", "Renewal date"), ("end_date", "end")),
    Field("status", False, ("Status",), ("Status",), ("status",)),
)

HEALTH_FIELDS: tuple[Field, ...] = (
    Field("account", False, ("Account Name",), ("Associated Company", "Company name"), ("account", "account_name")),
    Field("account_crm_id", False, ("Account ID",), ("Company ID",), ("account_id",)),
    Field("date", True, ("Date", "Snapshot Date"), ("Date",), ("date",)),
    Field("health_score", False, ("Health Score",), ("Health score",), ("health_score", "health")),
    Field("usage", False, ("Usage",), ("Usage",), ("usage",)),
    Field("open_tickets", False, ("Open Tickets", "Open Cases"), ("Open tickets",), ("open_tickets",)),
    Field("nps", False, ("NPS",), ("NPS",), ("nps",)),
)

TARGET_FIELDS: tuple[Field, ...] = (
    Field("email", False, ("Email", "Owner Email"), ("Email",), ("email",)),
    Field("team", False, ("Team",), ("Team",), ("team",)),
    Field("period", False, ("Period", "Fiscal Period"), ("Period",), ("period",)),
    Field("period_start", False, ("Start Date", "Period Start"), ("Start date",), ("period_start",)),
    Field("period_end", False, ("End Date", "Period End"), ("End date",), ("period_end",)),
    Field("metric", False, ("Metric",), ("Metric",), ("metric",)),
    Field("amount", True, ("Amount", "Quota", "Target"), ("Amount", "Goal"), ("amount", "target", "quota")),
)

FIELDS: dict[str, tuple[Field, ...]] = {
    "deals": DEAL_FIELDS,
    "accounts": ACCOUNT_FIELDS,
    "users": USER_FIELDS,
    "subscriptions": SUBSCRIPTION_FIELDS,
    "health": HEALTH_FIELDS,
    "targets": TARGET_FIELDS,
}


def normalise_label(label: str) -> str:
    return " ".join(str(label).replace("\ufeff", "").split()).casefold()


def resolve_columns(columns: list[str], obj: str, fmt: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Map each known field to the export's column that holds it. Raises when a required field
    has no column, naming the labels it looked for."""
    by_label = {}
    for column in columns:
        by_label.setdefault(normalise_label(column), column)
    overrides = overrides or {}
    fields = {f.name: f for f in FIELDS[obj]}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise SyncInputError(f"mapping file: unknown field {unknown[0]!r} for {obj}; known: {', '.join(fields)}")
    resolved: dict[str, str] = {}
    for field in FIELDS[obj]:
        if field.name in overrides:
            wanted = normalise_label(overrides[field.name])
            if wanted not in by_label:
                raise SyncInputError(
                    f"mapping file maps {field.name} to column {overrides[field.name]!r}, which is not in the file"
                )
            resolved[field.name] = by_label[wanted]
            continue
        for alias in field.aliases(fmt):
            if normalise_label(alias) in by_label:
                resolved[field.name] = by_label[normalise_label(alias)]
                break
    missing = [f for f in FIELDS[obj] if f.required and f.name not in resolved]
    if missing:
        field = missing[0]
        looked_for = ", ".join(repr(a) for a in field.aliases(fmt)[:4])
        raise SyncInputError(
            f"required column for {field.name} is missing (looked for {looked_for}); "
            f"add it to the export or map it with --mapping"
        )
    return resolved


def load_mapping(path: str | Path, obj: str) -> dict[str, str]:
    """A mapping file: `field = "Column label"` (TOML, JSON or YAML), either flat or under a
    table named after the object (`[deals]`)."""
    file = Path(path)
    if not file.is_file():
        raise SyncInputError(f"mapping file {file}: no such file")
    text = file.read_text(encoding="utf-8-sig")
    try:
        if file.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif file.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SyncInputError(f"mapping file {file.name}: cannot be read ({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and isinstance(data.get(obj), dict):
        data = data[obj]
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SyncInputError(f'mapping file {file.name}: expected lines like amount = "ARR (converted)"')
    return {str(k): v for k, v in data.items() if not isinstance(v, dict)}
