"""Payment accounts' pure rules: what a recording changes, decided without a database."""

from __future__ import annotations

from datetime import date

from services.registry.payee_rules import AccountIn, AccountKind, PayeeKind, decide_accounts, seal
from shared.pii import load_pii_key
from shared.settings import DEV_PII_KEY
from tests.accounts import card_number

KEY = load_pii_key(DEV_PII_KEY)
TODAY = date(2020, 6, 1)
PERSON = "9f" * 32  # a person key (keyed hash of a resident ID)


def card(seq: int, ref: str = PERSON) -> AccountIn:
    return AccountIn(PayeeKind.WORKER, ref, AccountKind.SOCIAL_SECURITY_CARD, seal(KEY, card_number(seq)), None, None)


def test_the_same_account_again_changes_nothing_and_another_is_the_next_revision() -> None:
    [first] = decide_accounts([card(1)], {}, "demo-feeder-employment_service", TODAY)
    assert first.changed and first.row["revision"] == 1 and first.row["account_masked"].endswith(card_number(1)[-4:])
    in_force = {("worker", PERSON): first.row}
    again, other = decide_accounts([card(1), card(2)], in_force, "demo-feeder-employment_service", TODAY)
    assert (again.changed, again.row) == (False, first.row)
    assert other.changed and other.row["revision"] == 2 and other.row["account_hash"] != first.row["account_hash"]


def test_accounts_are_decided_in_order_as_one_request_after_another() -> None:
    got = decide_accounts([card(1), card(2), card(2), card(1), card(1, ref="ab" * 32)], {}, "feeder", TODAY)
    assert [(r.changed, r.row["revision"]) for r in got] == [(True, 1), (True, 2), (False, 2), (True, 3), (True, 1)]
    assert card_number(1) not in repr([r.row for r in got])  # sealed: cipher, keyed hash and mask only
