"""`revbot sync hubspot`: deals (search on hs_lastmodifieddate with `after` paging), owners,
deal pipelines and their stages, companies and deal→company associations, through
hubspot-api-client. Responses are read as the documented JSON (`_preload_content=False`), so a
new field in HubSpot's answers never breaks a sync.

Credentials: `HUBSPOT_ACCESS_TOKEN` (a private-app token). The API base URL is
`[crm.hubspot] api_base_url` or `HUBSPOT_API_BASE_URL` (the client's `Configuration.host`).

The search endpoint stops at 10,000 results per query. When a window reaches that cap, the next
query starts at the last modification time seen (GTE, so nothing is skipped; records seen twice
are de-duplicated by id).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from hubspot import HubSpot

from storage.config import RevbotConfig
from storage.sync.api_sync import CrmSnapshot, SyncResult, run_sync
from storage.sync.catalog import StageInfo
from storage.sync.problems import SyncInputError
from storage.sync.retry import retry_policy

SOURCE = "hubspot"
SEARCH_CAP = 10_000
PAGE_SIZE = 100
DEAL_PROPERTIES = [
    "dealname", "amount", "deal_currency_code", "dealstage", "pipeline", "closedate", "createdate",
    "hs_lastmodifieddate", "hubspot_owner_id", "dealtype", "notes_last_updated", "hs_analytics_source",
    "hs_forecast_category", "hs_manual_forecast_category", "hs_deal_stage_probability",
    "hs_v2_date_entered_current_stage",
]  # fmt: skip
COMPANY_PROPERTIES = ["name", "industry", "country", "hubspot_owner_id", "hs_lastmodifieddate"]


def make_client(config: RevbotConfig, *, environ: dict[str, str] | None = None, backoff: float = 0.5,
                attempts: int = 5) -> HubSpot:  # fmt: skip
    env = os.environ if environ is None else environ
    token = env.get("HUBSPOT_ACCESS_TOKEN")
    if not token:
        raise SyncInputError("HubSpot credentials missing: set HUBSPOT_ACCESS_TOKEN to a private-app access token")
    host = (env.get("HUBSPOT_API_BASE_URL") or config.crm.hubspot.api_base_url).rstrip("/")
    return HubSpot(access_token=token, retry=retry_policy(attempts, backoff), host=host)


def _json(response: Any) -> Any:
    return json.loads(response.data or b"{}")


def to_millis(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def search_modified_since(
    search: Callable[[dict[str, Any]], Any],
    since: datetime | None,
    properties: list[str],
    *,
    page_size: int = PAGE_SIZE,
    cap: int = SEARCH_CAP,
) -> dict[str, dict[str, Any]]:
    """Every object modified at or after `since` (all when None), keyed by id, in modification
    order. Pages with `after`; at the cap, moves the window to the last modification seen."""
    found: dict[str, dict[str, Any]] = {}
    window = to_millis(since) if since else 0
    while True:
        after: str | None = None
        last_modified: int | None = None
        while True:
            body: dict[str, Any] = {
                "filterGroups": [
                    {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(window)}]}
                ],
                "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                "properties": properties,
                "limit": page_size,
            }
            if after is not None:
                body["after"] = after
            page = _json(search(body))
            for result in page.get("results", []):
                props = result.get("properties") or {}
                found.pop(str(result["id"]), None)  # keep modification order for re-seen ids
                found[str(result["id"])] = props
                modified = pd.to_datetime(props.get("hs_lastmodifieddate"), utc=True, errors="coerce")
                if not pd.isna(modified):
                    last_modified = int(modified.timestamp() * 1000)
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if after is None:
                return found
            if int(after) + page_size > cap:
                break
        if last_modified is None or last_modified <= window:
            raise SyncInputError(
                f"HubSpot search: more than {cap:,} records share one modification time; cannot page past them"
            )
        window = last_modified


def fetch_snapshot(
    client: HubSpot, since: datetime | None, config: RevbotConfig, *, page_size: int = PAGE_SIZE, cap: int = SEARCH_CAP
) -> CrmSnapshot:
    owners = _owners(client)
    stages, stage_labels = _pipelines(client, config)

    def search_deals(body: dict[str, Any]) -> Any:
        return client.crm.deals.search_api.do_search(public_object_search_request=body, _preload_content=False)

    def search_companies(body: dict[str, Any]) -> Any:
        return client.crm.companies.search_api.do_search(public_object_search_request=body, _preload_content=False)

    companies = search_modified_since(search_companies, since, COMPANY_PROPERTIES, page_size=page_size, cap=cap)
    deals = search_modified_since(search_deals, since, DEAL_PROPERTIES, page_size=page_size, cap=cap)
    company_of = _deal_companies(client, list(deals))
    deal_rows = []
    for deal_id, p in deals.items():
        stage_id = p.get("dealstage")
        deal_rows.append(
            {
                "crm_id": deal_id,
                "name": p.get("dealname"),
                "account_crm_id": company_of.get(deal_id),
                "owner_crm_id": p.get("hubspot_owner_id") or None,
                "amount": p.get("amount"),
                "currency": p.get("deal_currency_code") or None,
                "stage": stage_labels.get(stage_id, stage_id),
                "forecast_category": p.get("hs_manual_forecast_category") or p.get("hs_forecast_category") or None,
                "close_date": p.get("closedate"),
                "created_at": p.get("createdate"),
                "last_activity_at": p.get("notes_last_updated"),
                "stage_entered_at": p.get("hs_v2_date_entered_current_stage"),
                "type": p.get("dealtype"),
                "source": p.get("hs_analytics_source"),
            }
        )
    modified = [p.get("hs_lastmodifieddate") for p in [*deals.values(), *companies.values()]]
    watermark = pd.to_datetime(pd.Series(modified, dtype=object), utc=True, errors="coerce", format="ISO8601").max()
    portal = config.crm.hubspot.portal_id
    return CrmSnapshot(
        users=pd.DataFrame(owners, columns=["crm_id", "name", "email"]),
        accounts=pd.DataFrame(
            [
                (cid, p.get("name"), p.get("hubspot_owner_id") or None, p.get("industry"), p.get("country"))
                for cid, p in companies.items()
            ],
            columns=["crm_id", "name", "owner_crm_id", "industry", "region"],
        ),
        deals=pd.DataFrame(deal_rows).astype(object) if deal_rows else pd.DataFrame(),
        stages=stages,
        watermark=None if pd.isna(watermark) else watermark.tz_localize(None).to_pydatetime(),
        crm_url_template=f"https://app.hubspot.com/contacts/{portal}/deal/{{id}}" if portal else None,
        counts={"fetched_owners": len(owners), "fetched_companies": len(companies), "fetched_deals": len(deals)},
    )


def _owners(client: HubSpot) -> list[tuple[str, str, str | None]]:
    owners, after = [], None
    while True:
        kwargs: dict[str, Any] = {"limit": PAGE_SIZE, "_preload_content": False}
        if after:
            kwargs["after"] = after
        page = _json(client.crm.owners.owners_api.get_page(**kwargs))
        for owner in page.get("results", []):
            name = " ".join(filter(None, [owner.get("firstName"), owner.get("lastName")])) or owner.get("email")
            owners.append((str(owner["id"]), name or str(owner["id"]), owner.get("email")))
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return owners


def _pipelines(client: HubSpot, config: RevbotConfig) -> tuple[list[StageInfo], dict[str, str]]:
    """Stage ids → labels (deals carry the id), and each stage's status from its metadata."""
    page = _json(client.crm.pipelines.pipelines_api.get_all(object_type="deals", _preload_content=False))
    stages, labels = [], {}
    for pipeline in page.get("results", []):
        for stage in pipeline.get("stages", []):
            labels[str(stage["id"])] = stage["label"]
            metadata = stage.get("metadata") or {}
            probability = float(metadata.get("probability") or 0)
            closed = str(metadata.get("isClosed", "false")).lower() == "true"
            won = closed and probability >= 1.0
            category = "Closed" if won else "Omitted" if closed else "Pipeline"
            stages.append(StageInfo(stage["label"], probability * 100, closed, won, category))
    return stages, labels


def _deal_companies(client: HubSpot, deal_ids: list[str]) -> dict[str, str]:
    """The first associated company of each deal (v4 batch read, 1,000 ids per call)."""
    companies: dict[str, str] = {}
    for start in range(0, len(deal_ids), 1000):
        body = {"inputs": [{"id": deal_id} for deal_id in deal_ids[start : start + 1000]]}
        page = _json(
            client.crm.associations.v4.batch_api.get_page(
                from_object_type="deals",
                to_object_type="companies",
                batch_input_public_fetch_associations_batch_request=body,
                _preload_content=False,
            )
        )
        for result in page.get("results", []):
            source = (result.get("from") or result.get("_from") or {}).get("id")
            targets = result.get("to") or []
            if source is not None and targets:
                companies[str(source)] = str(targets[0]["toObjectId"])
    return companies


def sync_hubspot(
    engine, config: RevbotConfig, client: HubSpot, *, full: bool = False, now: datetime | None = None,
    progress=None, page_size: int = PAGE_SIZE, cap: int = SEARCH_CAP,
) -> SyncResult:  # type: ignore[no-untyped-def]  # fmt: skip
    return run_sync(
        engine,
        config,
        SOURCE,
        lambda since: fetch_snapshot(client, since, config, page_size=page_size, cap=cap),
        overlap=timedelta(minutes=config.crm.hubspot.overlap_minutes),
        full=full,
        now=now,
        progress=progress,
    )
