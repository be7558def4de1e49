"""The Azure Retail Prices API (unauthenticated, JSON over HTTPS): read every page of a filtered query.

Documented at https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices:
`GET https://prices.azure.com/api/retail/prices?$filter=...&currencyCode='USD'` answers
`{"BillingCurrency", "CustomerEntityId", "CustomerEntityType", "Items": [...], "NextPageLink", "Count"}`,
each item carrying `currencyCode`, `tierMinimumUnits`, `retailPrice`, `unitPrice`, `armRegionName`,
`location`, `effectiveStartDate`, `meterId`, `meterName`, `productName`, `skuName`, `serviceName`,
`unitOfMeasure`, `type`, ...; `NextPageLink` is the absolute URL of the next page, or null on the last.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from lifecycle.gateways.errors import GatewayError, RetryableError

DEFAULT_ENDPOINT = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"
MAX_PAGES = 200  # the snapshot query is a few pages; a runaway NextPageLink chain stops here
TIMEOUT_SECONDS = 30


def retail_items(
    filter_expr: str,
    *,
    endpoint: str = DEFAULT_ENDPOINT,
    currency: str = "USD",
    ca_file: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every item the query returns, following `NextPageLink` (only on the endpoint's own host)."""
    query = urlencode({"api-version": API_VERSION, "currencyCode": f"'{currency}'", "$filter": filter_expr})
    url: str | None = f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
    origin = urlsplit(endpoint)
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    for _ in range(MAX_PAGES):
        if url is None:
            return
        page = _get(url, context)
        items = page.get("Items")
        if not isinstance(items, list):
            raise GatewayError(f"Retail Prices API answer from {url} has no 'Items' list")
        yield from (item for item in items if isinstance(item, dict))
        next_link = page.get("NextPageLink")
        if not next_link:
            return
        target = urlsplit(str(next_link))
        if (target.scheme, target.netloc) != (origin.scheme, origin.netloc):
            raise GatewayError(f"Retail Prices API NextPageLink leaves {origin.netloc}: {next_link}")
        url = str(next_link)
    raise GatewayError(f"Retail Prices API: more than {MAX_PAGES} pages; stopped")


def _get(url: str, context: ssl.SSLContext | None) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS, context=context) as answer:
            body = json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        error = RetryableError if exc.code == 429 or exc.code >= 500 else GatewayError
        raise error(f"Retail Prices API answered {exc.code} for {url}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RetryableError(f"Retail Prices API unreachable at {url}: {exc}") from exc
    except ValueError as exc:
        raise GatewayError(f"Retail Prices API answer from {url} is not JSON") from exc
    if not isinstance(body, dict):
        raise GatewayError(f"Retail Prices API answer from {url} is not a JSON object")
    return body
