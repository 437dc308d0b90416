"""`revbot sync salesforce`: Opportunity, Account, User, OpportunityHistory and OpportunityStage
over the REST API (simple-salesforce, SOQL via `query_all_iter`), incremental on SystemModstamp.

Credentials come from the environment: `SALESFORCE_USERNAME` + `SALESFORCE_PASSWORD` +
`SALESFORCE_SECURITY_TOKEN` (password login), or `SALESFORCE_ACCESS_TOKEN` + an instance URL
(`SALESFORCE_INSTANCE_URL` or `[crm.salesforce] instance_url`). An `http://` instance URL is
honoured as written (simple-salesforce always builds https URLs), so a sandbox proxy or a local
stand-in can answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from storage.config import RevbotConfig
from storage.sync.api_sync import CrmSnapshot, SyncResult, run_sync
from storage.sync.catalog import StageInfo
from storage.sync.problems import SyncInputError
from storage.sync.retry import retry_policy

SOURCE = "salesforce"

USER_QUERY = "SELECT Id, Name, Email, IsActive, SystemModstamp FROM User"
ACCOUNT_QUERY = "SELECT Id, Name, OwnerId, Industry, BillingCountry, SystemModstamp FROM Account"
OPPORTUNITY_QUERY = (
    "SELECT Id, Name, AccountId, OwnerId, Amount, StageName, Probability, ForecastCategoryName, CloseDate,"
    " CreatedDate, LastActivityDate, Type, LeadSource, IsClosed, IsWon, IsDeleted, SystemModstamp FROM Opportunity"
)
HISTORY_QUERY = "SELECT OpportunityId, StageName, CreatedDate FROM OpportunityHistory"
STAGE_QUERY = (
    "SELECT MasterLabel, IsActive, IsClosed, IsWon, DefaultProbability, ForecastCategoryName, SortOrder"
    " FROM OpportunityStage"
)


@dataclass(frozen=True)
class SalesforceCredentials:
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    access_token: str | None = None
    instance_url: str | None = None
    domain: str = "login"
    version: str = "59.0"

    @property
    def is_configured(self) -> bool:
        """A session token with its instance, or a username and password to log in with."""
        return bool((self.access_token and self.instance_url) or (self.username and self.password))

    @classmethod
    def from_env(cls, config: RevbotConfig, environ: dict[str, str] | None = None) -> SalesforceCredentials:
        env = os.environ if environ is None else environ
        settings = config.crm.salesforce
        return cls(
            username=env.get("SALESFORCE_USERNAME"),
            password=env.get("SALESFORCE_PASSWORD"),
            security_token=env.get("SALESFORCE_SECURITY_TOKEN"),
            access_token=env.get("SALESFORCE_ACCESS_TOKEN"),
            instance_url=env.get("SALESFORCE_INSTANCE_URL") or settings.instance_url,
            domain=env.get("SALESFORCE_DOMAIN") or settings.domain,
            version=settings.api_version,
        )


class _PlainHttpAdapter(HTTPAdapter):
    """Sends https://host requests to http://host: for an instance URL given as http://."""

    def send(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        request.url = "http://" + request.url.removeprefix("https://")
        return super().send(request, *args, **kwargs)


def make_client(credentials: SalesforceCredentials, *, backoff: float = 0.5, attempts: int = 5) -> Salesforce:
    session = requests.Session()
    retrying = HTTPAdapter(max_retries=retry_policy(attempts, backoff))
    session.mount("https://", retrying)
    session.mount("http://", retrying)
    instance = credentials.instance_url
    if instance and instance.startswith("http://"):
        host = urlparse(instance).netloc
        session.mount(f"https://{host}", _PlainHttpAdapter(max_retries=retry_policy(attempts, backoff)))
    if credentials.access_token and instance:
        return Salesforce(
            instance_url=instance, session_id=credentials.access_token, version=credentials.version, session=session
        )
    if credentials.username and credentials.password:
        return Salesforce(
            username=credentials.username,
            password=credentials.password,
            security_token=credentials.security_token or "",
            domain=credentials.domain,
            version=credentials.version,
            session=session,
        )
    raise SyncInputError(
        "Salesforce credentials missing: set SALESFORCE_ACCESS_TOKEN and SALESFORCE_INSTANCE_URL, or "
        "SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN"
    )


def soql_datetime(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_snapshot(client: Salesforce, since: datetime | None, config: RevbotConfig) -> CrmSnapshot:
    """Everything changed since `since` (everything when None), as canonical frames."""
    modified = f" WHERE SystemModstamp >= {soql_datetime(since)}" if since else ""
    created = f" WHERE CreatedDate >= {soql_datetime(since)}" if since else ""
    stages = [_stage(record) for record in _records(client, STAGE_QUERY) if record.get("IsActive", True)]
    users = pd.DataFrame(
        [
            (r["Id"], r.get("Name"), r.get("Email"), r.get("SystemModstamp"))
            for r in _records(client, USER_QUERY + modified)
        ],
        columns=["crm_id", "name", "email", "modified"],
    )
    accounts = pd.DataFrame(
        [
            (
                r["Id"],
                r.get("Name"),
                r.get("OwnerId"),
                r.get("Industry"),
                r.get("BillingCountry"),
                r.get("SystemModstamp"),
            )
            for r in _records(client, ACCOUNT_QUERY + modified)
        ],
        columns=["crm_id", "name", "owner_crm_id", "industry", "region", "modified"],
    )
    opportunities = list(_records(client, OPPORTUNITY_QUERY + modified, include_deleted=True))
    history = pd.DataFrame(
        [
            (r["OpportunityId"], r.get("StageName"), r.get("CreatedDate"))
            for r in _records(client, HISTORY_QUERY + created)
        ],
        columns=["crm_id", "new_value", "changed_at"],
    )
    history["changed_at"] = _utc(history["changed_at"])
    history = history.dropna(subset=["new_value", "changed_at"])
    live = [r for r in opportunities if not r.get("IsDeleted")]
    deals = pd.DataFrame([_deal(r) for r in live], columns=_DEAL_COLUMNS).astype(object)
    if not deals.empty:
        deals["stage_entered_at"] = deals["crm_id"].map(_stage_entries(history)).astype(object)
    instance = getattr(client, "sf_instance", None)
    modified_times = pd.concat(
        [users["modified"], accounts["modified"], pd.Series([r.get("SystemModstamp") for r in opportunities])]
    )
    watermark = _utc(modified_times).max()
    return CrmSnapshot(
        users=users,
        accounts=accounts,
        deals=deals,
        deleted_deal_ids=[r["Id"] for r in opportunities if r.get("IsDeleted")],
        stage_history=history,
        stages=stages,
        watermark=None if pd.isna(watermark) else watermark.to_pydatetime(),
        crm_url_template=f"https://{instance}/lightning/r/Opportunity/{{id}}/view" if instance else None,
        counts={"fetched_users": len(users), "fetched_accounts": len(accounts), "fetched_deals": len(opportunities)},
    )


_DEAL_COLUMNS = [
    "crm_id", "name", "account_crm_id", "owner_crm_id", "amount", "stage", "probability", "forecast_category",
    "close_date", "created_at", "last_activity_at", "type", "source",
]  # fmt: skip


def _deal(record: dict[str, Any]) -> list[Any]:
    return [
        record["Id"],
        record.get("Name"),
        record.get("AccountId"),
        record.get("OwnerId"),
        None if record.get("Amount") is None else str(record["Amount"]),
        record.get("StageName"),
        None if record.get("Probability") is None else str(record["Probability"]),
        record.get("ForecastCategoryName"),
        record.get("CloseDate"),
        record.get("CreatedDate"),
        record.get("LastActivityDate"),
        record.get("Type"),
        record.get("LeadSource"),
    ]


def _stage(record: dict[str, Any]) -> StageInfo:
    return StageInfo(
        name=record["MasterLabel"],
        probability=float(record.get("DefaultProbability") or 0),
        is_closed=bool(record.get("IsClosed")),
        is_won=bool(record.get("IsWon")),
        forecast_category=record.get("ForecastCategoryName") or "Pipeline",
    )


def _stage_entries(history: pd.DataFrame) -> dict[str, str]:
    """When each deal entered its latest stage: the first snapshot of the final run of equal
    stages. Only trusted when the run starts with a change inside the window."""
    entries: dict[str, str] = {}
    ordered = history.sort_values(["crm_id", "changed_at"], kind="stable")
    for crm_id, group in ordered.groupby("crm_id", sort=False):
        stages = group["new_value"].tolist()
        times = group["changed_at"].tolist()
        start = len(stages) - 1
        while start > 0 and stages[start - 1] == stages[-1]:
            start -= 1
        if start > 0:
            entries[crm_id] = times[start].isoformat()
    return entries


def _records(client: Salesforce, query: str, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
    for record in client.query_all_iter(query, include_deleted=include_deleted):
        record.pop("attributes", None)
        yield record


def _utc(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
    return parsed.dt.tz_localize(None)


def sync_salesforce(
    engine, config: RevbotConfig, client: Salesforce, *, full: bool = False, now: datetime | None = None, progress=None
) -> SyncResult:  # type: ignore[no-untyped-def]
    overlap = timedelta(minutes=config.crm.salesforce.overlap_minutes)
    return run_sync(
        engine,
        config,
        SOURCE,
        lambda since: fetch_snapshot(client, since, config),
        overlap=overlap,
        full=full,
        now=now,
        progress=progress,
    )
