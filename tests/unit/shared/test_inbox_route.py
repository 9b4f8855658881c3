"""The handler table: a batch grouped by handler, in table order, delivery order kept within."""

from __future__ import annotations

import datetime as dt
import uuid

from shared.events import CertificateIssuedV1, CertificateRevokedV1, InstitutionRecordedV1, new_envelope
from shared.inbox import route

PERSON = "3f" * 32


def _issued() -> CertificateIssuedV1:
    return CertificateIssuedV1(certificate_id=uuid.uuid4(), person_key=PERSON, number="Y000000000000014000001",
                               kind="skill_level", occupation_code="6-18-01-01", level=4,
                               issue_date=dt.date(2020, 5, 20), issuer_code="52320613MJ0000003P",
                               issued_in_nantong=True)


def _revoked(cert: CertificateIssuedV1) -> CertificateRevokedV1:
    return CertificateRevokedV1(certificate_id=cert.certificate_id, person_key=PERSON,
                                revoked_on=dt.date(2020, 6, 1), reason="fraud")


def test_events_go_to_their_handler_in_table_order_keeping_delivery_order() -> None:
    a, b = _issued(), _issued()
    batch = [new_envelope(p, key=PERSON, producer="registry").typed() for p in (a, _revoked(a), b)]

    def on_registry() -> None: ...

    def on_institution() -> None: ...

    table = {InstitutionRecordedV1: on_institution, CertificateIssuedV1: on_registry,
             CertificateRevokedV1: on_registry}
    groups = route(table, batch)
    assert [(h, [e.payload for e in evs]) for h, evs in groups] == [(on_registry, [a, _revoked(a), b])]


def test_a_class_the_table_does_not_name_is_skipped() -> None:
    batch = [new_envelope(_issued(), key=PERSON, producer="registry").typed()]

    def on_institution() -> None: ...

    assert route({InstitutionRecordedV1: on_institution}, batch) == []
