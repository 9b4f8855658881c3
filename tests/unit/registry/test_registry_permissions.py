"""Who may write what: deny by default, each denial proven (issue 3, "Who may write what")."""

from __future__ import annotations

import itertools

import pytest

from services.registry.domain import (
    Action,
    FactKind,
    Feeder,
    Principal,
    Resource,
    ResourceKind,
    Role,
    can_read,
    can_write,
)

SCHOOL = Principal(Role.INSTITUTION, "c-school", institution_id="inst-1")
SOCIAL_INSURANCE = Principal(Role.FEEDER, "c-si", feeder=Feeder.SOCIAL_INSURANCE)
BUREAU = Principal(Role.BUREAU, "c-bureau")
CHONGCHUAN = Principal(Role.DISTRICT, "c-cc", districts=frozenset({"320602", "320611", "320613"}))
AUDITOR = Principal(Role.AUDITOR, "c-audit")

OWN_CLASS = Resource(ResourceKind.TRAINING_CLASS, institution_id="inst-1")
OTHER_CLASS = Resource(ResourceKind.TRAINING_CLASS, institution_id="inst-2")
OWN_CERT = Resource(ResourceKind.CERTIFICATE, institution_id="inst-1")
OTHER_CERT = Resource(ResourceKind.CERTIFICATE, institution_id="inst-2")
PENSION_FACT = Resource(ResourceKind.FACT, fact_kind=FactKind.DRAWING_MONTHLY_PENSION)
DISABILITY_FACT = Resource(ResourceKind.FACT, fact_kind=FactKind.DISABILITY)
CATALOG = Resource(ResourceKind.CATALOG)
EVERY_RESOURCE = [Resource(kind) for kind in ResourceKind] + [
    OWN_CLASS,
    OWN_CERT,
    PENSION_FACT,
    Resource(ResourceKind.PERSON, district="320613"),
]


def test_institution_writes_its_own_classes_and_certificates() -> None:
    assert can_write(SCHOOL, Action.CREATE, OWN_CLASS)
    assert can_write(SCHOOL, Action.UPDATE, OWN_CLASS)
    assert can_write(SCHOOL, Action.CREATE, OWN_CERT)
    assert can_write(
        SCHOOL, Action.CREATE, Resource(ResourceKind.COMPLETION, institution_id="inst-1")
    )


@pytest.mark.parametrize("action", list(Action))
def test_institution_cannot_write_another_institutions_class_or_certificate(action: Action) -> None:
    assert not can_write(SCHOOL, action, OTHER_CLASS)
    assert not can_write(SCHOOL, action, OTHER_CERT)


def test_institution_cannot_write_facts_catalogs_or_institutions() -> None:
    for resource in (
        PENSION_FACT,
        CATALOG,
        Resource(ResourceKind.INSTITUTION, institution_id="inst-1"),
    ):
        assert not any(can_write(SCHOOL, action, resource) for action in Action)


def test_institution_principal_without_an_institution_id_is_denied() -> None:
    anonymous = Principal(Role.INSTITUTION, "c-x")
    assert not can_write(anonymous, Action.CREATE, Resource(ResourceKind.TRAINING_CLASS))
    assert not can_write(anonymous, Action.CREATE, Resource(ResourceKind.PERSON))


def test_feeder_writes_only_its_own_kinds_of_facts() -> None:
    assert can_write(SOCIAL_INSURANCE, Action.CREATE, PENSION_FACT)
    assert not can_write(SOCIAL_INSURANCE, Action.CREATE, DISABILITY_FACT)
    assert not can_write(SOCIAL_INSURANCE, Action.CREATE, Resource(ResourceKind.FACT))
    assert not can_write(SOCIAL_INSURANCE, Action.REVOKE, PENSION_FACT)


def test_feeder_cannot_write_certificates_or_catalogs() -> None:
    for resource in (OWN_CERT, CATALOG, OWN_CLASS):
        assert not any(can_write(SOCIAL_INSURANCE, action, resource) for action in Action)


def test_bureau_writes_catalogs_and_revokes_certificates_but_does_not_issue_them() -> None:
    assert can_write(BUREAU, Action.UPDATE, CATALOG)
    assert can_write(BUREAU, Action.REVOKE, OTHER_CERT)
    assert not can_write(BUREAU, Action.CREATE, OWN_CERT)
    assert not can_write(BUREAU, Action.CREATE, PENSION_FACT)


def test_district_changes_only_its_own_district_including_merged_predecessors() -> None:
    old_gangzha = Resource(ResourceKind.INSTITUTION, district="320611")
    assert can_write(CHONGCHUAN, Action.UPDATE, old_gangzha)
    assert not can_write(
        CHONGCHUAN, Action.UPDATE, Resource(ResourceKind.INSTITUTION, district="320612")
    )
    assert not can_write(CHONGCHUAN, Action.UPDATE, Resource(ResourceKind.INSTITUTION))
    assert not can_write(
        CHONGCHUAN, Action.UPDATE, Resource(ResourceKind.CATALOG, district="320613")
    )


def test_district_sees_only_its_district() -> None:
    assert can_read(CHONGCHUAN, Resource(ResourceKind.PERSON, district="320602"))
    assert not can_read(CHONGCHUAN, Resource(ResourceKind.PERSON, district="320684"))


@pytest.mark.parametrize(("action", "resource"), itertools.product(Action, EVERY_RESOURCE))
def test_auditor_changes_nothing_but_reads_everything(action: Action, resource: Resource) -> None:
    assert not can_write(AUDITOR, action, resource)
    assert can_read(AUDITOR, resource)


def test_catalogs_are_readable_by_every_role() -> None:
    for principal in (SCHOOL, SOCIAL_INSURANCE, BUREAU, CHONGCHUAN, AUDITOR):
        assert can_read(principal, CATALOG)


def test_institution_reads_only_its_own_trainees_and_feeder_only_its_own_facts() -> None:
    assert can_read(SCHOOL, Resource(ResourceKind.PERSON, institution_id="inst-1"))
    assert not can_read(SCHOOL, Resource(ResourceKind.PERSON))
    assert can_read(SOCIAL_INSURANCE, PENSION_FACT)
    assert not can_read(SOCIAL_INSURANCE, DISABILITY_FACT)
    assert not can_read(SOCIAL_INSURANCE, Resource(ResourceKind.PERSON))
