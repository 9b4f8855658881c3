"""The worker process's side of the bulk imports (services/registry/bulk.py): parse, check, hash and
encrypt a chunk of NDJSON lines, and build the events of its people.

Pure steps, and an import list kept to the pure checks (the domain rules, shared.ids over
python-stdnum, shared.pii, the pydantic schemas and event models): the worker process is forked
from a server that preloaded only this module, so it starts in a fraction of a second instead of
re-importing the service's tree (SQLAlchemy, FastAPI, asyncpg, aiokafka), and its memory is this
module's, not the service's. Nothing here may import the service's I/O modules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from services.registry.domain import (
    PRODUCER,
    Action,
    InvalidCertificate,
    Principal,
    Resource,
    ResourceKind,
    can_write,
    check_certificate,
    check_certificate_identity,
)
from services.registry.fact_contract import attribute_problems
from services.registry.payee_rules import AccountIn, InvalidAccount, PayeeKind, check_account, not_authority, seal
from services.registry.schemas import (
    CertificateCreate,
    FactCreate,
    HistoricCertificateCreate,
    PayeeAccountCreate,
    PersonCreate,
)
from shared.clock import nantong_today
from shared.events import PersonRegisteredV1, StagedEvent, derived_event_id, new_envelope, staged
from shared.ids import (
    InvalidCreditCode,
    InvalidResidentId,
    check_credit_code,
    parse_resident_id,
    resident_id_check_char,
)
from shared.pii import encrypt_pii, lookup_hash

M = TypeVar("M", bound=BaseModel)
Chunk = list[tuple[int, str]]  # (line number, text) of the non-blank lines
ParsedId = tuple[str, date, str]  # normalised number, birth date, sex
NewRow = tuple[str, bytes, date, str, str | None]  # key, cipher, birth date, sex, district
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_BIRTHS: dict[str, date] = {}
_PERSON_FIELDS = frozenset(PersonCreate.model_fields)


class LineResult(NamedTuple):
    """One line's outcome (an immutable value; a NamedTuple because bulk files make millions)."""

    line: int
    status: str  # created | unchanged | error; people: accepted | error (no existence oracle)
    field: str | None = None
    reason: str | None = None
    id: str | None = None

    def json(self) -> str:
        if self.field is None and self.reason is None and self.id is not None:
            # The common line, without json.dumps: ids are hex keys or UUIDs, nothing to escape.
            return f'{{"line": {self.line}, "status": "{self.status}", "id": "{self.id}"}}'
        return json.dumps({k: v for k, v in self._asdict().items() if v is not None}, ensure_ascii=False)


class LineError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.reason = field, reason


@dataclass
class PeopleBatch:
    """Column arrays of people to insert (unique keys), in arrival order."""

    keys: list[str] = field(default_factory=list)
    ciphers: list[bytes] = field(default_factory=list)
    births: list[date] = field(default_factory=list)
    sexes: list[str] = field(default_factory=list)
    districts: list[str | None] = field(default_factory=list)

    def add(self, pii_key: bytes, key: str, rid: ParsedId, district: str | None) -> None:
        number, birth, sex = rid
        self.keys.append(key)
        self.ciphers.append(encrypt_pii(pii_key, number))  # PIPL: only the AES-GCM blob is stored
        self.births.append(birth)
        self.sexes.append(sex)
        self.districts.append(district)

    def rows(self) -> list[NewRow]:
        return list(zip(self.keys, self.ciphers, self.births, self.sexes, self.districts, strict=True))

    def __len__(self) -> int:
        return len(self.keys)


def fast_resident_id(text: str) -> ParsedId | None:
    """The GB 11643 check of `shared.ids.parse_resident_id` for the common case, ~5x faster: None
    means "not sure", and the caller asks parse_resident_id (or the pydantic model) for the reason."""
    number = text.upper()
    if not _SHAPE.fullmatch(number):
        return None
    if number[17] != resident_id_check_char(number[:17]):  # the one check (stdnum, via shared.ids)
        return None
    birth = _birth_date(number[6:14], number)
    if birth is None:
        return None
    return number, birth, "male" if ord(number[16]) & 1 else "female"


def _birth_date(yyyymmdd: str, number: str) -> date | None:
    birth = _BIRTHS.get(yyyymmdd)
    if birth is None:
        try:
            birth = parse_resident_id(number).birth_date  # the authority on dates, once per date
        except InvalidResidentId:
            return None
        if len(_BIRTHS) < 100_000:  # ~75,000 real dates since 1800; bounded against odd input
            _BIRTHS[yyyymmdd] = birth
    return birth


def person_envelopes(rows: Iterable[NewRow]) -> list[StagedEvent]:
    """The outbox rows of `registry.person.registered` for these people, from the payload model,
    with the event id the single-person path derives."""
    return staged(new_envelope(PersonRegisteredV1(person_key=key, district=district, birth_date=birth, sex=sex),
                               key=key, producer=PRODUCER, event_id=derived_event_id("person", key))
                  for key, _, birth, sex, district in rows)


def parse(model: type[M], raw: str) -> M:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "line"
        raise LineError(loc, err.get("msg", "invalid")) from None


def forbid(reason: str, on: str) -> LineError:
    return LineError(on, f"forbidden: {reason}")


# --- people ---------------------------------------------------------------------------------


def prepare_people(chunk: Chunk, p: Principal, pii_key: bytes
                   ) -> tuple[PeopleBatch, list[LineResult], list[StagedEvent]]:
    """Check, hash and encrypt one chunk: its people, a result per line, and the events of all its
    people (the caller stages those of the people it actually inserts, matched by key).

    Every good line is "accepted", new person or not (issue 14: like POST /v1/people, the bulk
    answer must not tell a caller who is on the register; the chunk's audit entry keeps the counts),
    so the results are final here, before the database is asked."""
    check = _person_check(p)
    batch, seen = PeopleBatch(), set()
    results: list[LineResult] = []
    for number, raw in chunk:
        try:
            rid, district = check(raw)
        except LineError as exc:
            results.append(LineResult(number, "error", exc.field, exc.reason))
            continue
        key = lookup_hash(pii_key, rid[0])
        if key not in seen:  # a repeat within the chunk is the same row
            seen.add(key)
            batch.add(pii_key, key, rid, district)
        results.append(LineResult(number, "accepted", None, None, key))
    return batch, results, person_envelopes(batch.rows())


def _person_check(p: Principal) -> Callable[[str], tuple[ParsedId, str | None]]:
    allowed: dict[str | None, bool] = {}  # the permission depends on the district only

    def check(raw: str) -> tuple[ParsedId, str | None]:
        parsed = _fast_person(raw)
        if parsed is None:  # anything unusual: the model decides, and names the field and reason
            person = parse(PersonCreate, raw)
            rid = parse_resident_id(person.resident_id)
            parsed = (rid.number, rid.birth_date, rid.sex), person.district
        district = parsed[1]
        ok = allowed.get(district)
        if ok is None:
            ok = allowed[district] = can_write(p, Action.CREATE, Resource(ResourceKind.PERSON, district=district))
        if not ok:
            raise forbid(f"{p.role} client may not register this person", "district")
        return parsed
    return check


def _fast_person(raw: str) -> tuple[ParsedId, str | None] | None:
    """PersonCreate's checks for a plain line without building a model; None when unsure."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if type(obj) is not dict or not obj.keys() <= _PERSON_FIELDS:
        return None
    rid, district = obj.get("resident_id"), obj.get("district")
    if type(rid) is not str or len(rid) != 18:
        return None
    if district is not None and (type(district) is not str or not 6 <= len(district) <= 16):
        return None
    parsed = fast_resident_id(rid)
    return None if parsed is None else (parsed, district)


# --- facts and certificates -----------------------------------------------------------------


def _validated(chunk: Iterable[tuple[int, str]], check: Callable[[str], Any],
               results: list[LineResult]) -> list[tuple[int, Any]]:
    good = []
    for number, raw in chunk:
        try:
            good.append((number, check(raw)))
        except LineError as exc:
            results.append(LineResult(number, "error", exc.field, exc.reason))
    return good


def _fact_check(p: Principal, feeder: str | None) -> Callable[[str], FactCreate]:
    def check(raw: str) -> FactCreate:
        fact = parse(FactCreate, raw)
        problems = attribute_problems(fact.kind, fact.attributes)
        if problems:
            raise LineError(*problems[0])
        if not can_write(p, Action.CREATE, Resource(ResourceKind.FACT, fact_kind=fact.kind)):
            raise forbid(f"feeder {feeder} is not the authority for {fact.kind}", "kind")
        if fact.source not in (None, feeder):
            raise forbid("source must be the caller's own feeder", "source")
        return fact.model_copy(update={"source": feeder})
    return check


def validate_facts(chunk: Chunk, p: Principal, feeder: str | None
                   ) -> tuple[list[tuple[int, FactCreate]], list[LineResult]]:
    """The chunk's valid facts, and a result for each refused line."""
    refused: list[LineResult] = []
    return _validated(chunk, _fact_check(p, feeder), refused), refused


def _certificate_check(p: Principal, historic: bool = False) -> Callable[[str], CertificateCreate]:
    model = HistoricCertificateCreate if historic else CertificateCreate

    def check(raw: str) -> CertificateCreate:
        cert = parse(model, raw)
        if historic and cert.received_on > nantong_today():  # type: ignore[attr-defined]
            raise LineError("received_on", "the receipt day is in the future")
        try:
            check_certificate(cert.kind, cert.number, cert.level)
            check_certificate_identity(cert.kind, cert.operation_category, cert.operation_item, cert.project_type)
        except InvalidCertificate as exc:
            raise LineError(exc.field, exc.reason) from None
        resource = Resource(ResourceKind.CERTIFICATE, institution_id=cert.issuer_code)
        if not historic and not can_write(p, Action.CREATE, resource):  # historic: the bureau's route
            raise forbid("institutions push only their own certificates", "issuer_code")
        return cert
    return check


def validate_certificates(chunk: Chunk, p: Principal, historic: bool = False
                          ) -> tuple[list[tuple[int, CertificateCreate]], list[LineResult]]:
    """The chunk's valid certificates, and a result for each refused line. `historic`: the
    bureau's migration of earlier years, each line with the day the earlier system received it."""
    refused: list[LineResult] = []
    return _validated(chunk, _certificate_check(p, historic), refused), refused


# --- payee accounts -------------------------------------------------------------------------


class CheckedAccount(NamedTuple):
    resident_id: str | None  # a worker's, for its person key (the registry keeps only that)
    account: AccountIn  # a worker's payee_ref is "" until the caller knows the person key


def _payee_check(allowed: frozenset[PayeeKind], pii_key: bytes) -> Callable[[str], CheckedAccount]:
    """POST /v1/payee-accounts' checks, in its order (services/registry/api_payees.py)."""
    def check(raw: str) -> CheckedAccount:
        body = parse(PayeeAccountCreate, raw)
        if body.payee_kind not in allowed:
            raise forbid(not_authority(body.payee_kind), "payee_kind")
        try:
            check_account(body.payee_kind, body.account_kind, body.account_number)
        except InvalidAccount as exc:
            raise LineError(exc.field, exc.reason) from None
        if body.credit_code is not None:
            try:
                check_credit_code(body.credit_code)  # malformed: refused; a pilot code's check mismatch is kept
            except InvalidCreditCode as exc:
                raise LineError("credit_code", str(exc)) from None
        return CheckedAccount(body.resident_id, AccountIn(
            body.payee_kind, body.credit_code or "", body.account_kind, seal(pii_key, body.account_number),
            body.account_name, body.bank_name))
    return check


def validate_payee_accounts(chunk: Chunk, allowed: frozenset[PayeeKind], pii_key: bytes
                            ) -> tuple[list[tuple[int, CheckedAccount]], list[LineResult]]:
    """The chunk's valid accounts, their numbers sealed (payee_rules.seal), and a result for each
    refused line. `allowed`: the payee kinds the caller may set (payees.may_set)."""
    refused: list[LineResult] = []
    return _validated(chunk, _payee_check(allowed, pii_key), refused), refused
