"""`revbot sync salesforce` against a local stand-in answering the REST API's JSON shapes."""

from __future__ import annotations

from datetime import datetime

import pytest

from storage.sync.api_sync import format_watermark
from storage.sync.salesforce import SalesforceCredentials, make_client, sync_salesforce
from tests.sync.crm_standin import SalesforceStandIn
from tests.sync.helpers import rows, snapshot

NOW = datetime(2026, 3, 9, 9, 0)


def org() -> SalesforceStandIn:
    standin = SalesforceStandIn(page_size=2)
    standin.objects = {
        "OpportunityStage": [
            {"MasterLabel": name, "IsActive": True, "IsClosed": closed, "IsWon": won, "DefaultProbability": p,
             "ForecastCategoryName": fc, "SortOrder": i}
            for i, (name, closed, won, p, fc) in enumerate([
                ("Prospecting", False, False, 10, "Pipeline"),
                ("Qualification", False, False, 20, "Pipeline"),
                ("Proposal", False, False, 50, "BestCase"),
                ("Verbal Commit", False, False, 90, "Commit"),
                ("Closed Won", True, True, 100, "Closed"),
                ("Closed Lost", True, False, 0, "Omitted"),
            ])
        ],
        "User": [
            {"Id": "0055e000001AAAA", "Name": "Dana Whitfield", "Email": "dana@example.com", "IsActive": True,
             "SystemModstamp": "2026-02-01T10:00:00.000+0000"},
            {"Id": "0055e000001BBBB", "Name": "Marcus Lee", "Email": "marcus@example.com", "IsActive": True,
             "SystemModstamp": "2026-02-01T10:00:00.000+0000"},
        ],
        "Account": [
            {"Id": "0015e000002AAAA", "Name": "Acme Corp", "OwnerId": "0055e000001AAAA", "Industry": "Manufacturing",
             "BillingCountry": "US", "SystemModstamp": "2026-02-02T10:00:00.000+0000"},
            {"Id": "0015e000002BBBB", "Name": "Globex Corporation", "OwnerId": "0055e000001BBBB",
             "Industry": "Energy", "BillingCountry": "DE", "SystemModstamp": "2026-02-02T10:00:00.000+0000"},
        ],
        "Opportunity": [
            opportunity("0065e00000AbC01AAF", "Acme Corp - Platform", "0015e000002AAAA", "0055e000001AAAA",
                        120000.0, "Proposal", "2026-03-05T16:00:00.000+0000"),
            opportunity("0065e00000AbC02AAF", "Globex - Analytics", "0015e000002BBBB", "0055e000001BBBB",
                        45500.0, "Verbal Commit", "2026-03-06T11:00:00.000+0000"),
            opportunity("0065e00000AbC03AAF", "Acme Corp - Services", "0015e000002AAAA", "0055e000001AAAA",
                        18000.0, "Qualification", "2026-03-01T08:00:00.000+0000"),
        ],
        "OpportunityHistory": [
            history("0065e00000AbC01AAF", "Prospecting", "2026-01-12T09:00:00.000+0000"),
            history("0065e00000AbC01AAF", "Qualification", "2026-02-01T09:00:00.000+0000"),
            history("0065e00000AbC01AAF", "Proposal", "2026-03-05T16:00:00.000+0000"),
            history("0065e00000AbC02AAF", "Verbal Commit", "2026-02-03T10:00:00.000+0000"),
            history("0065e00000AbC03AAF", "Qualification", "2026-03-01T08:00:00.000+0000"),
        ],
    }  # fmt: skip
    return standin


def opportunity(crm_id, name, account, owner, amount, stage, modstamp, **extra):  # type: ignore[no-untyped-def]
    return {
        "Id": crm_id, "Name": name, "AccountId": account, "OwnerId": owner, "Amount": amount, "StageName": stage,
        "Probability": None, "ForecastCategoryName": None, "CloseDate": "2026-04-30",
        "CreatedDate": "2026-01-12T09:00:00.000+0000", "LastActivityDate": "2026-03-05", "Type": "New Business",
        "LeadSource": "Web", "IsClosed": False, "IsWon": False, "IsDeleted": False, "SystemModstamp": modstamp,
    } | extra  # fmt: skip


def history(crm_id: str, stage: str, at: str) -> dict[str, str]:
    return {"Id": f"008{crm_id[3:]}{at[5:7]}{at[8:10]}", "OpportunityId": crm_id, "StageName": stage, "CreatedDate": at}


@pytest.fixture
def salesforce():
    with org().serve() as standin:
        yield standin


def client_for(standin: SalesforceStandIn):  # type: ignore[no-untyped-def]
    credentials = SalesforceCredentials(access_token="00Dxx!token", instance_url=standin.url)
    return make_client(credentials, backoff=0.001)


def test_first_sync_loads_users_accounts_deals_and_stage_history(engine, config, salesforce):
    result = sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    assert (result.stats["inserted"], result.stats["users_inserted"], result.stats["accounts_inserted"]) == (3, 2, 2)
    deal = rows(
        engine,
        "SELECT d.name, u.email, a.name, d.stage, d.probability, d.forecast_category, d.stage_entered_at, d.crm_url"
        " FROM deals d JOIN users u ON u.id = d.owner_id JOIN accounts a ON a.id = d.account_id"
        " WHERE d.crm_id = '0065e00000AbC02AAF'",
    )[0]
    name, email, account, stage, probability, category, entered, url = deal
    assert (name, email, account, stage) == ("Globex - Analytics", "marcus@example.com", "Globex Corporation",
                                             "Verbal Commit")  # fmt: skip
    assert (probability, category) == (90.0, "Commit")  # a stage only Salesforce knows: its own defaults
    assert url == f"https://127.0.0.1:{salesforce.port}/lightning/r/Opportunity/0065e00000AbC02AAF/view"
    history = rows(engine, "SELECT old_value, new_value, changed_at FROM deal_history ORDER BY changed_at")
    assert [(o, n, str(at)[:19]) for o, n, at in history] == [
        ("Prospecting", "Qualification", "2026-02-01 09:00:00"),
        ("Qualification", "Proposal", "2026-03-05 16:00:00"),
    ]
    entered = rows(engine, "SELECT stage_entered_at FROM deals WHERE crm_id = '0065e00000AbC01AAF'")[0][0]
    assert str(entered)[:19] == "2026-03-05 16:00:00"


def test_queries_page_with_next_records_url(engine, config, salesforce):
    sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    paths = [path for _, path, _ in salesforce.requests]
    assert any("/query/01g" in path for path in paths)  # the 3 opportunities came in 2 pages
    assert rows(engine, "SELECT COUNT(*) FROM deals") == [(3,)]


def test_watermark_is_the_newest_modstamp_and_next_run_is_incremental_with_overlap(engine, config, salesforce):
    first = sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    assert first.watermark == format_watermark(datetime(2026, 3, 6, 11, 0))
    sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    last_opportunity_query = [q for q in salesforce.soql() if "FROM Opportunity" in q and "History" not in q][-1]
    assert last_opportunity_query.endswith("WHERE SystemModstamp >= 2026-03-06T10:55:00Z")  # 5 minutes overlap


def test_incremental_change_records_history_and_second_run_of_same_data_adds_nothing(engine, config, salesforce):
    sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    salesforce.objects["Opportunity"][2].update(
        StageName="Proposal", Amount=21000.0, SystemModstamp="2026-03-08T12:00:00.000+0000"
    )
    salesforce.objects["OpportunityHistory"].append(
        history("0065e00000AbC03AAF", "Proposal", "2026-03-08T12:00:00.000+0000")
    )
    stats = sync_salesforce(engine, config, client_for(salesforce), now=NOW).stats
    # amount and forecast category (diff; the category follows the new stage) + stage (OpportunityHistory)
    assert (stats["updated"], stats["history_rows"]) == (1, 3)
    changes = rows(engine, "SELECT field, old_value, new_value FROM deal_history d JOIN deals x ON x.id = d.deal_id"
                           " WHERE x.crm_id = '0065e00000AbC03AAF' ORDER BY field")  # fmt: skip
    assert changes == [
        ("amount", "18000.00", "21000.00"),
        ("forecast_category", "Pipeline", "Best Case"),
        ("stage", "Qualification", "Proposal"),
    ]
    before = snapshot(engine)
    again = sync_salesforce(engine, config, client_for(salesforce), now=NOW).stats
    assert (again["updated"], again["history_rows"]) == (0, 0)
    assert snapshot(engine) == before


def test_deleted_opportunity_is_marked_removed(engine, config, salesforce):
    sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    salesforce.objects["Opportunity"][0].update(IsDeleted=True, SystemModstamp="2026-03-08T12:00:00.000+0000")
    assert sync_salesforce(engine, config, client_for(salesforce), now=NOW).stats["removed"] == 1
    assert rows(engine, "SELECT crm_id FROM deals WHERE removed_at IS NOT NULL") == [("0065e00000AbC01AAF",)]


def test_429_then_success_is_retried(engine, config, salesforce):
    salesforce.fail("/query", 429, times=2, retry_after="0")
    result = sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    assert result.stats["inserted"] == 3
    assert salesforce.failures[0].times == 0  # both 429s were served, then retried
    assert rows(engine, "SELECT status FROM sync_runs") == [("success",)]


def test_failure_mid_run_leaves_database_unchanged_and_keeps_watermark(engine, config, salesforce):
    first = sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    salesforce.objects["Opportunity"][0].update(Amount=1.0, SystemModstamp="2026-03-08T12:00:00.000+0000")
    before = snapshot(engine)
    salesforce.fail("OpportunityHistory", 503, times=50)  # users, accounts, deals fetched; history keeps failing
    with pytest.raises(Exception):  # noqa: B017 - the client's own error type
        sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    assert snapshot(engine) == before
    runs = rows(engine, "SELECT status, watermark, error FROM sync_runs ORDER BY id")
    assert [r[0] for r in runs] == ["success", "failed"]
    assert runs[1][1] is None and "503" in runs[1][2]
    salesforce.failures.clear()
    retried = sync_salesforce(engine, config, client_for(salesforce), now=NOW)
    assert retried.stats["since"] == first.watermark  # the failed run did not move the watermark


def test_missing_credentials_are_named(config):
    from storage.sync.problems import SyncInputError

    with pytest.raises(SyncInputError, match="SALESFORCE_ACCESS_TOKEN"):
        make_client(SalesforceCredentials.from_env(config, environ={}))
