"""The contracts' deployment parameters: TaskEscrow's fee range and expiry, checked before
anything is deployed and refused in production when a payer could reclaim too early."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.chain.deploy import DEV_PARAMS, MRT, DeployParams, refuse_dev_chain
from services.core.errors import ConfigInvalid

DAY = 24 * 3600


def test_the_escrow_parameters_of_dev_and_production() -> None:
    assert (DEV_PARAMS.min_fee_wei, DEV_PARAMS.max_fee_wei) == (10**15, 1_000 * MRT)
    assert DEV_PARAMS.escrow_expiry_s == DAY
    production = DeployParams()
    assert production.max_fee_wei == 1_000 * MRT and production.escrow_expiry_s == 7 * DAY


@pytest.mark.parametrize(
    "change",
    [
        {"min_fee_wei": 0},
        {"min_fee_wei": 2 * MRT, "max_fee_wei": MRT},
        {"escrow_expiry_s": 0},
        {"escrow_expiry_s": 2**64},  # the contract takes a uint64
    ],
)
def test_an_empty_fee_range_or_no_expiry_is_refused(change: dict[str, int]) -> None:
    with pytest.raises(ConfigInvalid):
        replace(DeployParams(), **change)


def test_production_refuses_an_escrow_expiry_under_a_day() -> None:
    refuse_dev_chain(1, replace(DeployParams(), escrow_expiry_s=DAY))
    with pytest.raises(ConfigInvalid, match="escrow expiry of 3600s") as caught:
        refuse_dev_chain(1, replace(DeployParams(), escrow_expiry_s=3600))
    assert "at least 86400s" in (caught.value.hint or "")


def test_the_record_keeps_the_escrow_parameters() -> None:
    params = replace(DeployParams(), min_fee_wei=5, max_fee_wei=7, escrow_expiry_s=3 * DAY)
    assert DeployParams.from_record(params.to_record()) == params
    older = {k: v for k, v in params.to_record().items() if "Fee" not in k and "Expiry" not in k}
    assert DeployParams.from_record(older).escrow_expiry_s == 7 * DAY  # a record made before them
