"""The documented event catalogue is the code's catalogue, and envelopes round-trip."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from shared.events import PAYLOADS, CertificateIssuedV1, Envelope, derived_event_id, new_envelope, topic_for
from shared.events_doc import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_docs_events_md_equals_the_registered_payload_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run: python -m shared.events_doc > docs/events.md"


def test_every_payload_model_with_a_type_is_registered() -> None:
    """A model left without @event (a merge can drop the decorator line) is published by its
    producer and dead-lettered by every consumer as an unknown type."""
    import inspect

    import shared.events as events

    models = {(c.TYPE, c.VERSION): c for _, c in inspect.getmembers(events, inspect.isclass)
              if issubclass(c, events.Payload) and hasattr(c, "TYPE") and ("TYPE" in vars(c) or "VERSION" in vars(c))}
    assert len(models) > 20 and {k: PAYLOADS.get(k) for k in models} == models


def test_every_event_type_is_past_tense_and_travels_on_its_producers_topic() -> None:
    for type_, version in PAYLOADS:
        producer, *_, verb = type_.split(".")
        assert verb.endswith(("ed", "raised", "published", "recorded", "registered", "issued", "revoked")), type_
        assert topic_for(type_) == f"{producer}.events"
        assert version >= 1


def test_envelope_round_trips_through_json_and_validates_its_payload() -> None:
    payload = CertificateIssuedV1(
        certificate_id=uuid.uuid4(), person_key="k" * 64, number="Y000000000000014000001", kind="skill_level",
        occupation_code="6-18-01-01", level=4, issue_date=date(2020, 5, 20), issuer_code="52320613MJ0000003P",
        issued_in_nantong=True)
    env = new_envelope(payload, key="k" * 64, producer="registry")
    again = Envelope.model_validate_json(env.model_dump_json())
    assert again == env
    assert again.parsed() == payload
    assert again.topic == "registry.events"


def test_unknown_payload_fields_are_refused() -> None:
    with pytest.raises(ValueError):
        CertificateIssuedV1.model_validate({"certificate_id": str(uuid.uuid4()), "surprise": 1})


def test_derived_event_ids_are_stable_so_retries_produce_the_same_event() -> None:
    assert derived_event_id("certificate-issued", "x") == derived_event_id("certificate-issued", "x")
    assert derived_event_id("certificate-issued", "x") != derived_event_id("certificate-revoked", "x")
