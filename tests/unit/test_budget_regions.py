"""The write budget per subscription, region and operation: a 429 or a spent window in one region holds
back that region's writes only; no I/O."""

from __future__ import annotations

from lifecycle import budget as budget_module
from lifecycle.budget import DELETE_VERSION, UPDATE_VERSION, Lane, WriteBudget, budget_region, observe_answer
from tests.unit.test_budget import SUB, URL, Clock


def header(left: int, policy: str = UPDATE_VERSION) -> dict[str, str]:
    return {"x-ms-ratelimit-remaining-resource": f"Microsoft.Compute/{policy}3Min;{left}"}


def test_a_429_in_one_region_does_not_stall_another() -> None:
    budget = WriteBudget(reserve=3, bulk_headroom=0, clock=Clock())
    budget.observe(URL, 429, {**header(0), "Retry-After": "1200"}, region="westeurope")
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK, region="westeurope") is not None
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK, region="eastus") is None
    why = budget.admit(SUB, UPDATE_VERSION, Lane.NEW_BUILD, region="WestEurope")
    assert why is not None and "westeurope" in why


def test_headroom_in_one_region_is_not_spent_in_another() -> None:
    budget = WriteBudget(reserve=3, bulk_headroom=0, clock=Clock())
    budget.observe(URL, 200, header(500), region="eastus")
    budget.observe(URL, 200, header(4), region="westeurope")
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK, region="westeurope") is None
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK, region="westeurope") is not None  # 3 kept
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK, region="eastus") is None
    assert budget.remaining(SUB, UPDATE_VERSION, "westeurope") == 3
    assert budget.remaining(SUB, UPDATE_VERSION) == 3  # the tightest region, for the report
    assert budget.regions(SUB) == ["eastus", "westeurope"]
    assert budget.remaining(SUB, DELETE_VERSION) is None


def test_answers_count_for_the_region_the_executor_names() -> None:
    budget = WriteBudget(reserve=1, bulk_headroom=0, clock=Clock())
    token = budget_module.current.set(budget)
    try:
        with budget_region("westeurope"):
            observe_answer(URL, 200, header(2))
        observe_answer(URL, 200, header(900))  # a read outside any write: no region
    finally:
        budget_module.current.reset(token)
    assert budget.remaining(SUB, UPDATE_VERSION, "westeurope") == 2
    assert budget.remaining(SUB, UPDATE_VERSION, "") == 900
