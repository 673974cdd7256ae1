"""The checklist's "Upgraded to Redis OM Python 1.0+": ticked only with a 1.x redis-om and every sampled migrated
record loading equal under it."""

from __future__ import annotations

import pytest

from om_runbook.flows.evidence import library_versions, upgrade_evidence
from om_runbook.migrations.verification import Verification

pytestmark = pytest.mark.pure
PASSED = {"passed": True, "sample_loaded": 40, "sample_equal": 40}


def _verification(**values: object) -> Verification:
    return Verification.model_validate({"keys_checked": 40, "expect": "target", "field_counts": {}, **PASSED, **values})


def test_the_versions_the_models_were_imported_with_and_the_sample_are_the_evidence():
    text = upgrade_evidence({"redis-om": "1.2.0", "pydantic": "2.11.7"}, ["Customer", "Order"], _verification())
    assert text == (
        "the models (Customer, Order) imported with redis-om 1.2.0 and pydantic 2.11.7; 40/40 migrated records load "
        "equal through Model.get()"
    )
    assert library_versions()["redis-om"].startswith("1.")  # what this suite imports the models with


@pytest.mark.parametrize(
    ("versions", "verification"),
    [
        ({"redis-om": "0.3.5", "pydantic": "2.11.7"}, _verification()),
        ({"redis-om": "not installed", "pydantic": "2.11.7"}, _verification()),
        ({"redis-om": "1.2.0", "pydantic": "2.11.7"}, _verification(passed=False)),
        ({"redis-om": "1.2.0", "pydantic": "2.11.7"}, _verification(sample_equal=39)),
        ({"redis-om": "1.2.0", "pydantic": "2.11.7"}, _verification(sample_loaded=0, sample_equal=0)),
    ],
)
def test_no_evidence_without_a_1x_redis_om_or_with_a_sample_that_did_not_load_equal(versions, verification):
    assert upgrade_evidence(versions, ["Customer"], verification) is None
