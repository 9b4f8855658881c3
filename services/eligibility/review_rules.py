"""Human review, the rules: who may ask and who may decide, and what amount a reviewer may set.
Pure; a refusal is a `ReviewError` the API maps to problem+json.

- A person (through any authenticated system acting for them) may ask for review of a current
  automated approval or rejection (PIPL art. 24): of a refusal, or of the amount granted.
- The reviewer cannot be the one who asked.
- An approval's amount is at most the plan's cap for the case: the clause's top rate on the facts
  date (shortage share, uplift, the table's maximum) or the amount proposed, whichever is higher.
- 四.3 at actual cost (《目录》外 trades) needs evidence: the actual training cost, the assessment fee
  and the documents' references; the amount is their sum, at most `四.3.at_cost_cap_fen`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from shared.money import fen_to_yuan, round_half_up

from . import reasons as rs
from .catalog import CatalogLine
from .decision import APPROVED, REJECTED, Step
from .params import ParamView

REVIEWABLE = (APPROVED, REJECTED)
AT_COST = rs.OUT_OF_CATALOG_AT_COST.code


class ReviewError(ValueError):
    """A review request or resolution that cannot be done: status, title and the field to blame."""

    def __init__(self, status: int, title: str, detail: str, field: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.field = status, title, detail, field


@dataclass(frozen=True, slots=True)
class Evidence:
    """What an enterprise or industry body shows for 四.3 at actual cost."""

    training_cost_fen: int
    assessment_fee_fen: int
    documents: tuple[str, ...]


def check_request(outcome: str, current: bool, reviewed: bool) -> None:
    if not current or outcome not in REVIEWABLE or reviewed:
        raise ReviewError(409, "Not reviewable", "only a current automated approval or rejection can be put to "
                          "human review", "decision_id")


def check_reviewer(requested_by: str | None, reviewer_id: str) -> None:
    """Four eyes: whoever asked for the review does not decide it."""
    if requested_by is not None and requested_by.split(":", 1)[-1] == reviewer_id:
        raise ReviewError(403, "Reviewer asked for this review", "the reviewer cannot be the requester",
                          "review_id")


def at_cost(evidence: Evidence, view: ParamView) -> tuple[int, tuple[Step, ...]]:
    """四.3 《目录》外: actual training cost + assessment fee, at most the cap in force."""
    if not evidence.documents:
        raise ReviewError(422, "Evidence required", "name the documents (invoices, training records) the "
                          "amounts come from", "evidence.documents")
    cap = view.get("四.3.at_cost_cap_fen")
    total = evidence.training_cost_fen + evidence.assessment_fee_fen
    steps = (Step("实际培训成本", "actual training cost", fen_to_yuan(evidence.training_cost_fen)),
             Step("考核费", "assessment fee", fen_to_yuan(evidence.assessment_fee_fen)),
             Step("凭证", "documents", "; ".join(evidence.documents)),
             Step("上限", "cap", fen_to_yuan(cap)),
             Step("核定金额", "amount", fen_to_yuan(min(total, cap))))
    return min(total, cap), steps


def _top_rates(total: Fraction | None, view: ParamView) -> dict[str, Callable[[], Any]]:
    return {
        "四.2": lambda: total and total * view.get("四.2.shortage_share"),
        "四.3": lambda: total and total * view.get("四.3.shortage_share"),
        "四.4": lambda: total and total * view.get("四.4.share") * view.get("四.4.shortage_uplift"),
        "五.2": lambda: total and total * view.get("五.2.share"),
        "四.5a": lambda: max(view.get("四.5a.reward_fen").values()),
        "四.5b": lambda: view.get("四.5b.reward_fen"),
        "四.7": lambda: max(view.get("四.7.per_year_fen").values()),
        "五.3": lambda: view.get("五.3.per_month_fen") * view.get("五.3.max_months"),
        "五.4": lambda: max(view.get("五.4.training_fen").values()) + view.get("五.4.certificate_reward_fen"),
        "六": lambda: max(view.get("六.training_fen").values()),
    }


def plan_cap(clause: str, proposed_fen: int, std: CatalogLine | None, view: ParamView) -> int | None:
    """The most the plan allows for this case: the clause's top rate on the facts date, or the
    amount proposed ("up to" amounts such as 四.1), whichever is higher; None when neither exists."""
    total = Fraction(std.total_fen) if std else None
    top = _top_rates(total, view).get(clause, lambda: None)()
    cap = max(proposed_fen, round_half_up(Fraction(top)) if top else 0)
    return cap or None


def approved_amount(clause: str, reason_codes: Sequence[str], proposed_fen: int, std: CatalogLine | None,
                    view: ParamView, amount_fen: int | None, evidence: Evidence | None,
                    kept_steps: tuple[Step, ...]) -> tuple[int, tuple[Step, ...]]:
    """The amount a reviewer's approval grants, with its steps; the calculation steps of the
    reviewed decision are kept, and the reviewer's figure is the last step."""
    if AT_COST in reason_codes:
        if evidence is None:
            raise ReviewError(422, "Evidence required", "四.3 at actual cost needs the training cost, the "
                              "assessment fee and the documents", "evidence")
        fen, steps = at_cost(evidence, view)
        if amount_fen is not None and amount_fen != fen:
            raise ReviewError(422, "Amount differs from the evidence", f"the evidence gives {fen_to_yuan(fen)} "
                              "yuan", "amount_fen")
        return fen, steps
    if amount_fen is None or amount_fen <= 0:
        raise ReviewError(422, "Amount required", "an approval needs an amount in fen > 0", "amount_fen")
    cap = plan_cap(clause, proposed_fen, std, view)
    if cap is None:
        raise ReviewError(422, "No plan cap", f"clause {clause} gives no cap for this case", "amount_fen")
    if amount_fen > cap:
        raise ReviewError(422, "Above the plan's cap", f"{fen_to_yuan(amount_fen)} exceeds the cap of "
                          f"{fen_to_yuan(cap)} yuan", "amount_fen")
    return amount_fen, (*kept_steps, Step("人工复核核定金额", "amount set by the reviewer", fen_to_yuan(amount_fen)))
