"""Payment-account numbers shaped like real ones, for tests: social-security card financial
accounts are UnionPay card numbers (19 digits, Luhn check digit); corporate accounts are digits."""

from __future__ import annotations

from services.registry.payee_rules import luhn_check_digit


def card_number(seq: int) -> str:
    """A 19-digit social-security card account (bank prefix 621700, then the sequence)."""
    body = f"621700{seq:012d}"
    return body + luhn_check_digit(body)


def bank_account(seq: int) -> str:
    """A corporate bank account number (digits, no check digit)."""
    return f"3210{seq:014d}"
