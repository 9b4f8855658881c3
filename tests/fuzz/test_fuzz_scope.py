"""Object-level scope on real records: generated bodies cannot know what is stored, so these aim
the same custom checks at the seeded certificate, class, person and institutions."""

from __future__ import annotations

from typing import Any

import pytest

from services.registry.clients import DEMO_DISTRICT, DEMO_INSTITUTION_ID
from tests.fuzz.checks import unmasked_ids
from tests.fuzz.conftest import CALLERS, OTHER_DISTRICT, OTHER_INSTITUTION_ID, Platform, headers_for
from tests.fuzz.harness import valid_resident_id


def _as(name: str) -> dict[str, str]:
    return headers_for(CALLERS[name])


def test_another_institution_can_neither_read_nor_revoke_nor_reissue_a_certificate(platform: Platform) -> None:
    reg, cert = platform.client("registry"), platform.objects["certificate_id"]
    assert reg.get(f"/v1/certificates/{cert}", headers=_as("other-institution")).status_code == 403
    revoked = reg.post(f"/v1/certificates/{cert}/revocations", headers=_as("other-institution"),
                       json={"revoked_on": "2020-06-01", "reason": "not ours"})
    assert revoked.status_code == 403
    forged = reg.post("/v1/certificates", headers=_as("other-institution"), json={
        "number": "Y000000000000094000009", "kind": "skill_level", "resident_id": valid_resident_id(9),
        "occupation_code": "6-18-01-01", "level": 4, "issue_date": "2020-05-20",
        "issuer_code": DEMO_INSTITUTION_ID})
    assert forged.status_code == 403
    assert forged.json()["errors"][0]["field"] == "issuer_code"


def test_another_institution_cannot_write_a_class_or_completion_of_the_owner(platform: Platform) -> None:
    reg = platform.client("registry")
    klass = reg.post("/v1/classes", headers=_as("other-institution"), json={
        "institution_id": DEMO_INSTITUTION_ID, "class_code": "FUZZ-1", "kind": "pre_job",
        "start_date": "2020-03-01", "end_date": "2020-05-01", "planned_trainees": 1,
        "enrolled_trainees": 1, "hours": 1})
    assert klass.status_code == 403
    done = reg.post("/v1/completions", headers=_as("other-institution"), json={
        "kind": "class_completed", "resident_id": valid_resident_id(11),
        "class_id": platform.objects["class_id"], "completed_on": "2020-05-01"})
    assert done.status_code == 403


def test_district_staff_cannot_move_another_districts_institution_into_their_own(platform: Platform) -> None:
    reg = platform.client("registry")
    moved = reg.post("/v1/institutions", headers=_as("district"), json={
        "credit_code": OTHER_INSTITUTION_ID, "name": "taken over", "kind": "training",
        "district": DEMO_DISTRICT, "listed_from": "2019-01-01"})
    assert moved.status_code == 403, moved.text
    listed = {i["credit_code"]: i for i in reg.get("/v1/institutions").json()}
    assert listed[OTHER_INSTITUTION_ID]["district"] == OTHER_DISTRICT


def test_district_staff_outside_the_persons_district_cannot_read_the_person(platform: Platform) -> None:
    reg, key = platform.client("registry"), platform.objects["person_key"]
    assert reg.get(f"/v1/people/{key}", headers=_as("other-district")).status_code == 403
    own = reg.get(f"/v1/people/{key}", headers=_as("district"))
    assert own.status_code == 200 and not unmasked_ids(own.text)


@pytest.mark.parametrize("caller", ["institution", "district", "bureau-no-pii"])
def test_callers_without_the_id_grant_see_only_masked_ids(platform: Platform, caller: str) -> None:
    reg = platform.client("registry")
    for path in (f"/v1/certificates/{platform.objects['certificate_id']}",
                 f"/v1/people/{platform.objects['person_key']}"):
        r = reg.get(path, headers=_as(caller))
        assert r.status_code in (200, 403) and not unmasked_ids(r.text), (caller, path)
    granted = reg.get(f"/v1/people/{platform.objects['person_key']}", headers=_as("bureau"))
    assert unmasked_ids(granted.text) == [valid_resident_id(7)]  # the check can fail: it sees real IDs


ALLOCATION: dict[str, Any] = {"reference": "FUZZ-ALLOC-X", "source": "unemployment_insurance_surplus",
                              "district": DEMO_DISTRICT, "amount_fen": 1}


@pytest.mark.parametrize(("path", "body", "wrong_role"), [
    ("/v1/allocations", ALLOCATION, "auditor"),
    ("/v1/recoveries", {"reference": "FUZZ-REC-X", "source": "unemployment_insurance_surplus",
                        "district": DEMO_DISTRICT, "payee_kind": "enterprise", "payee_ref": "91110000802100433B",
                        "amount_fen": 1}, "auditor"),
    ("/v1/advances", {"plan_id": "6f1c2a52-4a0e-4a51-9d0c-1f8f0d0a0a01"}, "finance"),
])
def test_money_is_set_only_by_the_role_that_owns_it(platform: Platform, path: str, body: dict[str, Any],
                                                    wrong_role: str) -> None:
    pay = platform.client("payments")
    for caller in (wrong_role, "institution", "bureau", "district"):
        r = pay.post(path, headers=_as(caller), json=body)
        assert r.status_code == 403, (caller, r.status_code, r.text[:200])


def test_a_manual_item_is_never_approved_by_its_drafter_nor_released_by_hr(platform: Platform) -> None:
    pay = platform.client("payments")
    item = pay.post("/v1/allocations", headers=_as("hr"), json=ALLOCATION | {"reference": "FUZZ-ALLOC-MC"})
    assert item.status_code == 201, item.text
    item_id = item.json()["item_id"]
    assert pay.post(f"/v1/manual-items/{item_id}/approve", headers=_as("hr")).status_code == 403
    assert pay.post(f"/v1/manual-items/{item_id}/release", headers=_as("hr")).status_code == 403
    assert pay.get("/v1/manual-items", headers=_as("institution")).status_code == 403


@pytest.mark.parametrize("extra", [{"status": "paid"}, {"approved_by": "demo-hr"}, {"balance_fen": 10**9}])
def test_fields_a_client_does_not_own_are_refused(platform: Platform, extra: dict[str, Any]) -> None:
    pay = platform.client("payments")
    r = pay.post("/v1/allocations", headers=_as("finance"), json=ALLOCATION | extra)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == next(iter(extra))
    batch = pay.post("/v1/batches", headers=_as("hr"), json={"limit": 1} | extra)
    assert batch.status_code == 422
