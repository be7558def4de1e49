"""`prices refresh` against a Retail Prices API answer shaped as its documentation describes
(https://learn.microsoft.com/rest/api/cost-management/retail-prices/azure-retail-prices: `BillingCurrency`,
`CustomerEntityId`, `CustomerEntityType`, `Items[]`, `NextPageLink`, `Count`), served on 127.0.0.1 by the
test. Never the network."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from lifecycle.cli import main
from lifecycle.pricing import PriceTable
from tests.unit.test_pricing import retail_item

pytestmark = pytest.mark.integration


class RetailPrices:
    """Two pages of snapshot meters; the first links to the second with an absolute NextPageLink."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.next_link_host: str | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/retail/prices"

    def page(self, skip: int) -> dict[str, Any]:
        pages = [
            [
                retail_item(),
                retail_item(meterName="ZRS Snapshots", skuName="Snapshots ZRS", retailPrice=0.0625),
                retail_item(meterName="LRS Disk Operations", skuName="S4 LRS", retailPrice=0.0005),
            ],
            [
                retail_item(armRegionName="westeurope", location="EU West", retailPrice=0.056),
                retail_item(
                    productName="Premium SSD Managed Disks", meterName="Snapshots LRS", retailPrice=0.132
                ),
            ],
        ]
        host = self.next_link_host or f"127.0.0.1:{self.server.server_address[1]}"
        next_link = (
            f"http://{host}/api/retail/prices?api-version=2023-01-01-preview&$skip=100" if skip == 0 else None
        )
        items = pages[0 if skip == 0 else 1]
        return {
            "BillingCurrency": "USD",
            "CustomerEntityId": "Default",
            "CustomerEntityType": "Retail",
            "Items": items,
            "NextPageLink": next_link,
            "Count": len(items),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                query = parse_qs(urlsplit(self.path).query)
                body = json.dumps(outer.page(int(query.get("$skip", ["0"])[0]))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture()
def api() -> Iterator[RetailPrices]:
    server = RetailPrices()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_refresh_follows_next_page_link_and_writes_a_dated_table(api: RetailPrices, tmp_path: Path) -> None:
    out = tmp_path / "prices.json"
    code, text, err = run("prices", "refresh", "--endpoint", api.endpoint, "--out", str(out))
    assert code == 0, err
    assert len(api.requests) == 2
    first = parse_qs(urlsplit(api.requests[0]).query)
    assert first["currencyCode"] == ["'USD'"]
    assert "contains(meterName, 'Snapshots')" in first["$filter"][0]
    table = PriceTable.from_json(json.loads(out.read_text()))
    assert table.to_json()["prices"] == {
        "Premium_LRS": {"eastus": 0.132},
        "Standard_LRS": {"eastus": 0.05, "westeurope": 0.056},
        "Standard_ZRS": {"eastus": 0.0625},
    }
    assert table.source.startswith("Azure Retail Prices API") and table.date in text
    # The refreshed table is what plan and report then cost with.
    code, text, _ = run("prices", "show", "--prices", str(out))
    assert code == 0 and f"USD prices of {table.date}" in text


def test_a_next_page_link_to_another_host_is_refused(api: RetailPrices, tmp_path: Path) -> None:
    api.next_link_host = "prices.example.invalid"
    out = tmp_path / "prices.json"
    code, _, err = run("prices", "refresh", "--endpoint", api.endpoint, "--out", str(out))
    assert code == 1
    assert "NextPageLink leaves" in err
    assert not out.exists()


def test_an_unreachable_api_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run(
        "prices",
        "refresh",
        "--endpoint",
        "http://127.0.0.1:9/api/retail/prices",
        "--out",
        str(tmp_path / "p.json"),
    )
    assert code == 1
    assert "Retail Prices API unreachable" in err


def test_a_bad_price_table_is_a_usage_error_naming_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "prices.json"
    broken.write_text(
        json.dumps({"date": "2026-12-01", "currency": "USD", "source": "x", "prices": {"Gold": {}}})
    )
    policy = tmp_path / "policy.json"
    policy.write_text("{}")
    for args in (
        ("prices", "show", "--prices", str(broken)),
        ("plan", "--config", str(policy), "--prices", str(broken)),
        ("report", "--config", str(policy), "--prices", str(tmp_path / "missing.json")),
    ):
        code, _, err = run(*args)
        assert code == 2, args
        assert "unknown storage type 'Gold'" in err or "cannot read" in err, err


def test_the_plan_text_names_the_prices_date_and_what_was_not_costed() -> None:
    from lifecycle.render import cost_summary

    text = cost_summary(
        {
            "cost_delta_per_month": -4.5,
            "cost": {
                "currency": "USD",
                "prices_date": "2026-12-01",
                "lines": [
                    {"region": "eastus", "delta_per_month": -3.0},
                    {"region": "westeurope", "delta_per_month": -1.5},
                    {"region": "japaneast", "delta_per_month": None},
                ],
                "unpriced": [".../versions/1.0.0 in japaneast"],
            },
        }
    )
    assert text.splitlines() == [
        "cost change: -4.50 USD/month (replica storage, prices of 2026-12-01)",
        "  by region: eastus -3.00, westeurope -1.50",
        "  not costed (size or price unknown): .../versions/1.0.0 in japaneast",
    ]
