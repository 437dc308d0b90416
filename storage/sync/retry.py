"""Retrying CRM API calls: 429 and 5xx are retried with exponential backoff, honouring
Retry-After. Both connectors' HTTP stacks (requests for simple-salesforce, urllib3 for the
HubSpot client) take the same urllib3 `Retry`."""

from __future__ import annotations

from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


def retry_policy(attempts: int = 5, backoff: float = 0.5) -> Retry:
    """`backoff` seconds doubles per attempt (0.5, 1, 2, 4...); tests pass a tiny value.
    POST is retried too: the only POSTs are HubSpot searches and batch reads, which are reads."""
    return Retry(
        total=attempts,
        connect=attempts,
        read=attempts,
        status=attempts,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=None,
        backoff_factor=backoff,
        backoff_max=60,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
