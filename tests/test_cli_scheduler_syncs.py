"""The scheduler adds a CRM sync job only for a connector whose credentials are set."""

from __future__ import annotations

import pytest

from bot.cli.runtime import load_runtime
from bot.cli.scheduler import configured_syncs

CRM_VARIABLES = (
    "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN", "SALESFORCE_ACCESS_TOKEN",
    "SALESFORCE_INSTANCE_URL", "HUBSPOT_ACCESS_TOKEN",
)


@pytest.fixture
def no_crm_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CRM_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_no_credentials_means_no_sync_jobs(no_crm_credentials: None, database_url: str) -> None:
    assert configured_syncs(load_runtime(database_url)) == {}


def test_salesforce_token_and_instance_add_a_salesforce_job(
    no_crm_credentials: None, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESFORCE_ACCESS_TOKEN", "00Dxx!token")
    monkeypatch.setenv("SALESFORCE_INSTANCE_URL", "https://acme.my.salesforce.com")
    assert list(configured_syncs(load_runtime(database_url))) == ["salesforce"]
