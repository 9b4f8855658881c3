"""Shared fixtures-as-functions for the payments unit tests."""

from __future__ import annotations

from services.payments.disbursements import Actor, Role
from services.payments.ledger import Fund, FundingSource, Payee, PayeeKind

UI = Fund(FundingSource.UNEMPLOYMENT_INSURANCE_SURPLUS, "320612")
TALENT = Fund(FundingSource.LOCAL_TALENT, "320612")
WORKER = Payee(PayeeKind.WORKER_CARD, "w-1")
OTHER_WORKER = Payee(PayeeKind.WORKER_CARD, "w-2")
HR_ANNA = Actor("anna", Role.HR)
FIN_BO = Actor("bo", Role.FINANCE)
FIN_ANNA = Actor("anna", Role.FINANCE)  # the same person holding the finance role too
