"""Fraud signals of 十四 and the institutions' credit rating of 十七: pure functions, no I/O.

A signal is a pattern a reviewer should look at, never a verdict: it goes to the fraud-signal
review queue (fraud_scan.py, api_fraud.py) with its evidence, and nothing is rejected
automatically. Each signal has a stable `subject`, so the same pattern seen again (a replayed
event, a later batch) is the same signal. Thresholds are dated parameters (`fraud.*`, `credit.*`
in params/parameters.yaml), read in force on the day of the scan.

Signals:
- `issued_before_class_end`: a certificate names a class that had not ended on its issue date.
- `overlapping_classes`: one person enrolled (completion or certificate) in two classes whose
  dates overlap.
- `same_day_two_institutions`: one person certified by two institutions on one day.
- `volume_spike`: an institution's certificates in a month above `fraud.volume.factor` × its own
  mean over the `fraud.volume.history_months` before, once it has that much history and at least
  `fraud.volume.min_count` certificates that month.
- `shared_contact`: `fraud.shared_contact.min_trainees` or more trainees giving one phone number
  or one bank account (compared as keyed digests; the values are never seen here).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

ISSUED_BEFORE_CLASS_END = "issued_before_class_end"
OVERLAPPING_CLASSES = "overlapping_classes"
SAME_DAY_TWO_INSTITUTIONS = "same_day_two_institutions"
VOLUME_SPIKE = "volume_spike"
SHARED_CONTACT = "shared_contact"
KINDS = (ISSUED_BEFORE_CLASS_END, OVERLAPPING_CLASSES, SAME_DAY_TWO_INSTITUTIONS, VOLUME_SPIKE, SHARED_CONTACT)
RATINGS = ("A", "B", "C", "D")


@dataclass(frozen=True, slots=True)
class Certificate:
    certificate_id: str
    person_key: str
    issuer_code: str
    issue_date: dt.date
    class_id: str | None = None


@dataclass(frozen=True, slots=True)
class TrainingClass:
    class_id: str
    institution_code: str
    start_date: dt.date
    end_date: dt.date


@dataclass(frozen=True, slots=True)
class Contact:
    person_key: str
    institution_code: str
    kind: str  # phone | bank_account
    digest: str


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str
    subject: str  # stable identity: the same pattern seen twice is one signal
    institution_code: str | None
    person_key: str | None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Thresholds:
    volume_factor: Fraction
    history_months: int
    min_count: int
    min_shared_trainees: int


def issued_before_class_end(certs: Iterable[Certificate], classes: Mapping[str, TrainingClass]) -> list[Signal]:
    out = []
    for c in certs:
        k = classes.get(c.class_id) if c.class_id else None
        if k is not None and c.issue_date < k.end_date:
            out.append(Signal(ISSUED_BEFORE_CLASS_END, f"{ISSUED_BEFORE_CLASS_END}:{c.certificate_id}",
                              c.issuer_code, c.person_key, {
                                  "certificate_id": c.certificate_id, "issue_date": c.issue_date.isoformat(),
                                  "class_id": k.class_id, "class_end_date": k.end_date.isoformat(),
                                  "class_institution": k.institution_code}))
    return out


def overlapping_classes(enrolments: Iterable[tuple[str, str]], classes: Mapping[str, TrainingClass]) -> list[Signal]:
    """`enrolments`: (person_key, class_id) pairs, from completions and certificates."""
    by_person: dict[str, set[str]] = defaultdict(set)
    for person, class_id in enrolments:
        if class_id in classes:
            by_person[person].add(class_id)
    out = []
    for person, ids in sorted(by_person.items()):
        ordered = sorted((classes[i] for i in ids), key=lambda k: (k.start_date, k.class_id))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                if b.start_date > a.end_date:
                    break
                out.append(_overlap(person, a, b))
    return out


def _overlap(person: str, a: TrainingClass, b: TrainingClass) -> Signal:
    first, second = sorted((a, b), key=lambda k: k.class_id)
    return Signal(OVERLAPPING_CLASSES, f"{OVERLAPPING_CLASSES}:{person}:{first.class_id}:{second.class_id}",
                  None, person, {"classes": [_class_evidence(k) for k in (first, second)],
                                 "overlap_from": max(a.start_date, b.start_date).isoformat(),
                                 "overlap_to": min(a.end_date, b.end_date).isoformat()})


def _class_evidence(k: TrainingClass) -> dict[str, str]:
    return {"class_id": k.class_id, "institution_code": k.institution_code,
            "start_date": k.start_date.isoformat(), "end_date": k.end_date.isoformat()}


def same_day_two_institutions(certs: Iterable[Certificate]) -> list[Signal]:
    groups: dict[tuple[str, dt.date], list[Certificate]] = defaultdict(list)
    for c in certs:
        groups[(c.person_key, c.issue_date)].append(c)
    out = []
    for (person, day), got in sorted(groups.items()):
        issuers = sorted({c.issuer_code for c in got})
        if len(issuers) >= 2:
            out.append(Signal(SAME_DAY_TWO_INSTITUTIONS, f"{SAME_DAY_TWO_INSTITUTIONS}:{person}:{day.isoformat()}",
                              None, person, {"issue_date": day.isoformat(), "institutions": issuers,
                                             "certificate_ids": sorted(c.certificate_id for c in got)}))
    return out


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def months_before(month: dt.date, n: int) -> list[dt.date]:
    """The n calendar months before `month` (its first day), oldest first."""
    out, y, m = [], month.year, month.month
    for _ in range(n):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        out.append(dt.date(y, m, 1))
    return out[::-1]


def volume_spikes(volumes: Mapping[tuple[str, dt.date], int], months: Iterable[tuple[str, dt.date]],
                  limits: Thresholds) -> list[Signal]:
    """`volumes`: certificates per (institution, first day of month); `months`: which to judge."""
    out = []
    for institution, month in sorted(set(months)):
        count = volumes.get((institution, month), 0)
        history = [volumes.get((institution, m), 0) for m in months_before(month, limits.history_months)]
        if count < limits.min_count or sum(1 for v in history if v) < limits.history_months:
            continue  # too small to judge, or not enough history of its own to compare with
        mean = Fraction(sum(history), len(history))
        if count > limits.volume_factor * mean:
            out.append(Signal(VOLUME_SPIKE, f"{VOLUME_SPIKE}:{institution}:{month.isoformat()[:7]}",
                              institution, None, {
                                  "month": month.isoformat()[:7], "certificates": count,
                                  "history": {m.isoformat()[:7]: volumes.get((institution, m), 0)
                                              for m in months_before(month, limits.history_months)},
                                  "history_mean": str(mean.limit_denominator(1000)),
                                  "factor": str(limits.volume_factor)}))
    return out


def shared_contacts(contacts: Iterable[Contact], limits: Thresholds) -> list[Signal]:
    groups: dict[tuple[str, str], list[Contact]] = defaultdict(list)
    for c in contacts:
        groups[(c.kind, c.digest)].append(c)
    out = []
    for (kind, digest), got in sorted(groups.items()):
        persons = sorted({c.person_key for c in got})
        if len(persons) < limits.min_shared_trainees:
            continue
        institutions = sorted({c.institution_code for c in got})
        # The digest's prefix identifies the group to a reviewer; it reveals nothing without the key.
        out.append(Signal(SHARED_CONTACT, f"{SHARED_CONTACT}:{kind}:{digest}",
                          institutions[0] if len(institutions) == 1 else None, None, {
                              "contact_kind": kind, "digest_prefix": digest[:12], "trainees": len(persons),
                              "person_keys": persons, "institutions": institutions}))
    return out


def detect(certs: Sequence[Certificate], classes: Mapping[str, TrainingClass],
           enrolments: Iterable[tuple[str, str]], volumes: Mapping[tuple[str, dt.date], int],
           judged_months: Iterable[tuple[str, dt.date]], contacts: Iterable[Contact],
           limits: Thresholds) -> list[Signal]:
    """Every signal the loaded state shows."""
    return (issued_before_class_end(certs, classes) + overlapping_classes(enrolments, classes)
            + same_day_two_institutions(certs) + volume_spikes(volumes, judged_months, limits)
            + shared_contacts(contacts, limits))


@dataclass(frozen=True, slots=True)
class CreditRules:
    points_confirmed: int  # taken off 100 for each confirmed signal
    points_open: int  # for each signal still open
    bands: Mapping[str, Fraction]  # rating -> least score (share of 100) for it; below every band: D


def credit_rating(confirmed: int, open_: int, rules: CreditRules) -> tuple[str, int]:
    """(rating, score): 100 less the points of its signals; dismissed signals count nothing."""
    score = max(0, 100 - confirmed * rules.points_confirmed - open_ * rules.points_open)
    for rating in RATINGS[:-1]:
        floor = rules.bands.get(rating)
        if floor is not None and Fraction(score, 100) >= floor:
            return rating, score
    return RATINGS[-1], score
