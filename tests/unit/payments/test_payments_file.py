"""The payment file: one column per field; no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest

from services.payments.treasury import FILE_COLUMNS, OrderLine, cell, payment_file

LINE = OrderLine(payment_ref="8f1b7c1e-3d2a-5b4c-9e8f-7a6b5c4d3e2f:whole#1",
                 decision_id="8f1b7c1e-3d2a-5b4c-9e8f-7a6b5c4d3e2f", part="whole", attempt=1, clause="四.7",
                 source="unemployment_insurance_surplus", district="320612", payee_kind="enterprise",
                 payee_ref="91110000802100433B", account_kind="bank_account", account_number="321000000000000001",
                 account_name="=HYPERLINK(\"http://x\",\"pay\")", bank_name="@SUM(A1)", amount_fen=500_000)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@x", "\t=1", "\r=1"])
def test_a_cell_that_starts_like_a_formula_is_neutralised(text: str) -> None:
    assert cell(text) == "'" + text


def test_plain_cells_are_kept_as_they_are() -> None:
    assert [cell(v) for v in ("91110000802100433B", 500_000, None, "中国银行")] == [
        "91110000802100433B", "500000", "", "中国银行"]


def test_the_file_has_one_column_per_field_and_no_live_formula() -> None:
    rows = list(csv.reader(io.StringIO(payment_file([LINE]))))
    assert rows[0] == list(FILE_COLUMNS) and len(rows[1]) == len(FILE_COLUMNS)
    got = dict(zip(rows[0], rows[1], strict=True))
    assert got["account_name"].startswith("'=") and got["bank_name"] == "'@SUM(A1)"
    assert (got["decision_id"], got["part"], got["attempt"], got["amount_yuan"]) == (
        LINE.decision_id, "whole", "1", "5000.00")
    assert not any("|" in v for v in rows[1])
