"""`revbot sync hubspot` against a local stand-in answering the CRM API's JSON shapes."""

from __future__ import annotations

from datetime import datetime

import pytest

from storage.sync.hubspot import make_client, sync_hubspot
from storage.sync.problems import SyncInputError
from tests.sync.crm_standin import HubSpotStandIn
from tests.sync.helpers import rows, snapshot

NOW = datetime(2026, 3, 9, 9, 0)


def deal(deal_id: str, name: str, stage: str, amount: str, modified: str, owner: str = "301") -> dict:
    return {
        "id": deal_id,
        "properties": {
            "dealname": name, "dealstage": stage, "amount": amount, "pipeline": "default",
            "closedate": "2026-04-30T00:00:00Z", "createdate": "2026-01-08T10:15:00.000Z",
            "hs_lastmodifieddate": modified, "hubspot_owner_id": owner, "dealtype": "newbusiness",
            "notes_last_updated": "2026-03-05T16:40:00.000Z", "hs_v2_date_entered_current_stage": None,
        },
    }  # fmt: skip


def portal() -> HubSpotStandIn:
    standin = HubSpotStandIn()
    standin.owners = [
        {"id": "301", "email": "jordan@example.com", "firstName": "Jordan", "lastName": "Blake", "type": "PERSON",
         "archived": False, "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"},
        {"id": "302", "email": "sam@example.com", "firstName": "Sam", "lastName": "Ortiz", "type": "PERSON",
         "archived": False, "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z"},
    ]  # fmt: skip
    standin.pipelines = [
        {"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False, "stages": [
            {"id": "appointmentscheduled", "label": "Appointment Scheduled", "displayOrder": 0,
             "metadata": {"isClosed": "false", "probability": "0.2"}},
            {"id": "qualifiedtobuy", "label": "Qualified To Buy", "displayOrder": 1,
             "metadata": {"isClosed": "false", "probability": "0.4"}},
            {"id": "contractsent", "label": "Contract Sent", "displayOrder": 2,
             "metadata": {"isClosed": "false", "probability": "0.9"}},
            {"id": "closedwon", "label": "Closed Won", "displayOrder": 3,
             "metadata": {"isClosed": "true", "probability": "1.0"}},
            {"id": "closedlost", "label": "Closed Lost", "displayOrder": 4,
             "metadata": {"isClosed": "true", "probability": "0.0"}},
        ]},
    ]  # fmt: skip
    standin.companies = [
        {"id": "7001", "properties": {"name": "Northwind Traders", "industry": "RETAIL", "country": "United States",
                                      "hubspot_owner_id": "301", "hs_lastmodifieddate": "2026-02-01T10:00:00.000Z"}},
        {"id": "7002", "properties": {"name": "Contoso Ltd", "industry": "COMPUTER_SOFTWARE", "country": "Canada",
                                      "hubspot_owner_id": "302", "hs_lastmodifieddate": "2026-02-01T11:00:00.000Z"}},
    ]  # fmt: skip
    standin.deals = [
        deal("9876543201", "Northwind - Annual plan", "contractsent", "64000", "2026-03-05T16:40:00.000Z"),
        deal("9876543202", "Contoso onboarding", "qualifiedtobuy", "12500", "2026-03-06T08:00:00.000Z", "302"),
        deal("9876543203", "Fabrikam upgrade", "closedwon", "28750.50", "2026-03-06T09:00:00.000Z", "302"),
    ]
    standin.associations = {"9876543201": ["7001"], "9876543202": ["7002"]}
    return standin


@pytest.fixture
def hubspot():
    with portal().serve() as standin:
        yield standin


def client_for(standin: HubSpotStandIn, config):  # type: ignore[no-untyped-def]
    return make_client(config, environ={"HUBSPOT_ACCESS_TOKEN": "pat-na1-test", "HUBSPOT_API_BASE_URL": standin.url},
                       backoff=0.001)  # fmt: skip


def test_first_sync_maps_stage_ids_owners_and_companies(engine, config, hubspot):
    result = sync_hubspot(engine, config, client_for(hubspot, config), now=NOW)
    assert (result.stats["inserted"], result.stats["users_inserted"], result.stats["accounts_inserted"]) == (3, 2, 2)
    found = rows(
        engine,
        "SELECT d.crm_id, d.stage, d.probability, d.is_closed, d.is_won, u.email, a.name FROM deals d"
        " JOIN users u ON u.id = d.owner_id LEFT JOIN accounts a ON a.id = d.account_id ORDER BY d.crm_id",
    )
    assert [(c, s, p, bool(x), bool(w), e, a) for c, s, p, x, w, e, a in found] == [
        ("9876543201", "Contract Sent", 90.0, False, False, "jordan@example.com", "Northwind Traders"),
        ("9876543202", "Qualified To Buy", 40.0, False, False, "sam@example.com", "Contoso Ltd"),
        ("9876543203", "Closed Won", 100.0, True, True, "sam@example.com", None),
    ]
    assert rows(engine, "SELECT name FROM users ORDER BY name") == [("Jordan Blake",), ("Sam Ortiz",)]


def test_search_filters_on_last_modified_and_pages_with_after(engine, config, hubspot):
    sync_hubspot(engine, config, client_for(hubspot, config), now=NOW, page_size=2)
    searches = [body for _, path, body in hubspot.requests if path.startswith("/crm/v3/objects/deals/search")]
    assert [s.get("after") for s in searches] == [None, "2"]
    assert searches[0]["filterGroups"][0]["filters"][0] == {
        "propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0",
    }  # fmt: skip


def test_result_cap_moves_the_window_to_the_last_modified_date(engine, config, hubspot):
    hubspot.deals += [
        deal(f"98765433{i:02d}", f"Bulk deal {i}", "appointmentscheduled", "1000", f"2026-03-07T0{i}:00:00.000Z")
        for i in range(6)
    ]
    hubspot.result_cap = 4
    result = sync_hubspot(engine, config, client_for(hubspot, config), now=NOW, page_size=2, cap=4)
    assert result.stats["inserted"] == 9
    windows = [
        body["filterGroups"][0]["filters"][0]["value"]
        for _, path, body in hubspot.requests
        if path.startswith("/crm/v3/objects/deals/search") and "after" not in body
    ]
    assert len(windows) >= 3 and windows[0] == "0" and windows == sorted(windows, key=int)


def test_second_run_is_incremental_and_records_history(engine, config, hubspot):
    first = sync_hubspot(engine, config, client_for(hubspot, config), now=NOW)
    hubspot.deals[1]["properties"].update(dealstage="contractsent", amount="15000",
                                          hs_lastmodifieddate="2026-03-08T12:00:00.000Z")  # fmt: skip
    stats = sync_hubspot(engine, config, client_for(hubspot, config), now=NOW).stats
    assert stats["since"] == first.watermark == "2026-03-06T09:00:00.000000Z"
    assert stats["fetched_deals"] == 2  # the overlap re-reads the last one; it is unchanged
    assert (stats["updated"], stats["unchanged"]) == (1, 1)
    assert rows(engine, "SELECT field, old_value, new_value FROM deal_history ORDER BY field") == [
        ("amount", "12500.00", "15000.00"),
        ("stage", "Qualified To Buy", "Contract Sent"),
    ]


def test_429_then_success(engine, config, hubspot):
    hubspot.fail("/crm/v3/objects/deals/search", 429, times=2, retry_after="0")
    assert sync_hubspot(engine, config, client_for(hubspot, config), now=NOW).stats["inserted"] == 3
    assert hubspot.failures[0].times == 0


def test_failure_mid_run_leaves_database_unchanged(engine, config, hubspot):
    sync_hubspot(engine, config, client_for(hubspot, config), now=NOW)
    hubspot.deals[0]["properties"].update(amount="1", hs_lastmodifieddate="2026-03-08T12:00:00.000Z")
    before = snapshot(engine)
    hubspot.fail("/crm/v4/associations", 500, times=50)
    with pytest.raises(Exception):  # noqa: B017 - the client's ApiException
        sync_hubspot(engine, config, client_for(hubspot, config), now=NOW)
    assert snapshot(engine) == before
    assert [r[0] for r in rows(engine, "SELECT status FROM sync_runs ORDER BY id")] == ["success", "failed"]


def test_missing_token_is_named(config):
    with pytest.raises(SyncInputError, match="HUBSPOT_ACCESS_TOKEN"):
        make_client(config, environ={})
