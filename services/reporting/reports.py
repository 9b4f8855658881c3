"""Quarterly and annual reports (季报、年报, 十六) as figures, then as CSV, XLSX and HTML bytes.

A report is frozen at its cut-off: `build_report` keeps only what was decided by the period's end
and recorded by the cut-off, the renderers are pure functions of the figures, and the figures
round-trip through `figures_to_dict` / `figures_from_dict` so the store can keep them. Same
figures → same bytes (no clock, no randomness: XLSX timestamps are the cut-off day).
"""

from __future__ import annotations

import csv
import html
import io
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Any, Literal

from services.reporting.domain import TargetSet, TargetStatus, assess_all
from services.reporting.funds import SOURCES_ZH, FundFlow, FundTally
from services.reporting.history import unit_for, unit_name, units_listed
from services.reporting.progress import (
    TARGET_GROUPS_ZH,
    DecisionRecord,
    ProgressTally,
    quarter_end,
)
from services.reporting.ratios import SkillCounts
from shared.money import fen_to_yuan

ReportKind = Literal["quarterly", "annual"]
Cell = str | int


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True, slots=True)
class ReportFigures:
    kind: ReportKind
    period: str  # "2020Q3" or "2020"
    start: date
    end: date
    cut_off: date
    title: str
    tables: tuple[Table, ...]
    note: str = ""  # the public form's small-cell note (services/reporting/public.py)
    # (unit, skilled, high-skilled) persons at the period's end: what the district table's shares
    # were computed from, kept (never printed) so the public form can suppress a share of few
    # people; None in reports issued before they were kept, and in the public form itself.
    skills: tuple[tuple[str, int, int], ...] | None = None
    # (资金来源 as printed, payments in 本期支付, paid before the period, in 累计支付, in 预留余额):
    # the payments whose money makes up each figure of the fund table (and 累计 minus 本期), kept
    # (never printed) for the public form; None as above.
    fund_counts: tuple[tuple[str, int, int, int, int], ...] | None = None


def period_bounds(kind: ReportKind, period: str) -> tuple[date, date]:
    """First and last day of "2020Q3" (quarterly) or "2020" (annual)."""
    year = int(period[:4])
    if kind == "annual":
        return date(year, 1, 1), date(year, 12, 31)
    q = int(period[-1])
    return date(year, 3 * q - 2, 1), quarter_end(period)


def report_title(kind: ReportKind, period: str) -> str:
    name = f"{period[:4]}年年报" if kind == "annual" else f"{period[:4]}年第{period[-1]}季度季报"
    return f"南通市职业技能提升行动（2019～2021年）{name}"


def _known(day: date, recorded_on: date | None, end: date, cut_off: date) -> bool:
    return day <= end and (recorded_on or day) <= cut_off


# --- figures ---------------------------------------------------------------------------------


def _pct(value: Fraction | None) -> str:
    return "—" if value is None else f"{float(value * 100):.2f}%"


def _target_value(status: TargetStatus, value: Fraction | None) -> Cell:
    if value is None:
        return "—"
    return _pct(value) if status.spec.kind == "share" else round(value)


def _target_table(statuses: Iterable[TargetStatus]) -> Table:
    rows = []
    for s in statuses:
        done = None if s.actual is None else s.actual / s.spec.goal
        state = "无数据" if s.actual is None else ("滞后" if s.behind else "正常")
        rows.append((s.spec.id, s.spec.name_zh, s.spec.clause, _target_value(s, s.spec.goal),
                     _target_value(s, s.actual), _pct(done), _target_value(s, s.expected), state))
    headers = ("编号", "指标", "条款", "目标", "期末实际", "完成率", "进度要求", "状态")
    return Table("一、目标任务进展", headers, tuple(rows))


def _split(counter: Counter[Any], index: int, quarters: set[str]) -> tuple[Counter[str], Counter[str]]:
    """(this period, cumulative) sums of a quarter-keyed counter by dimension `index`."""
    period: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for dims, value in counter.items():
        total[dims[index]] += value
        if dims[0] in quarters:
            period[dims[index]] += value
    return period, total


def _rolled(counter: Counter[str], end: date) -> Counter[str]:
    out: Counter[str] = Counter()
    for code, value in counter.items():
        out[unit_for(code, end)] += value
    return out


def _district_table(
    tally: ProgressTally, quarters: set[str], end: date, skills: Mapping[str, SkillCounts]
) -> Table:
    p_count, c_count = (_rolled(c, end) for c in _split(tally.person_times, 1, quarters))
    p_amount, c_amount = (_rolled(c, end) for c in _split(tally.amounts, 1, quarters))
    rows = []
    for unit in units_listed(end, c_count.keys() | c_amount.keys()):
        ratio = skills.get(unit, SkillCounts(None, 0, 0)).to_dict()
        rows.append((unit_name(unit, end), unit, p_count[unit], c_count[unit],
                     fen_to_yuan(p_amount[unit]), fen_to_yuan(c_amount[unit]),
                     _pct(_frac(ratio["skilled_share"])), _pct(_frac(ratio["high_skilled_share"]))))
    headers = ("县（市）区", "区划代码", "本期培训人次", "累计培训人次", "本期补贴金额（元）",
               "累计补贴金额（元）", "技能劳动者占比", "高技能人才占比")
    return Table("二、分县（市）区情况", headers, tuple(rows))


def _frac(value: float | None) -> Fraction | None:
    return None if value is None else Fraction(str(value))


def _dimension_table(
    title: str, label: str, tally: ProgressTally, index: int, quarters: set[str]
) -> Table:
    p_count, c_count = _split(tally.person_times, index, quarters)
    p_amount, _ = _split(tally.amounts, index, quarters)
    rows = tuple((k, p_count[k], c_count[k], fen_to_yuan(p_amount[k]))
                 for k in sorted(c_count.keys() | p_amount.keys()))
    return Table(title, (label, "本期培训人次", "累计培训人次", "本期补贴金额（元）"), rows)


def _group_table(tally: ProgressTally, quarters: set[str]) -> Table:
    period, total = _split(tally.groups, 1, quarters)
    rows = tuple((TARGET_GROUPS_ZH.get(g, g), period[g], total[g]) for g in sorted(total))
    return Table("五、分重点群体情况", ("群体", "本期培训人次", "累计培训人次"), rows)


FUND_HEADERS = ("资金来源", "本期支付（元）", "累计支付（元）", "预留余额（元）")
FUND_TITLE = "六、资金使用情况（分账核算）"


def _fund_table(funds: FundTally, months: set[str]) -> Table:
    period: Counter[str] = Counter()
    for dims, value in funds.paid.items():
        if dims[0] in months:
            period[dims[1]] += value
    paid, reserved = funds.by(1, "paid"), funds.by(1, "reserved")
    rows = tuple((SOURCES_ZH.get(s, s), fen_to_yuan(period[s]), fen_to_yuan(paid.get(s, 0)),
                  fen_to_yuan(reserved.get(s, 0))) for s in sorted(paid.keys() | reserved.keys()))
    return Table(FUND_TITLE, FUND_HEADERS, rows)


def _payments_in(flows: Iterable[FundFlow]) -> Counter[str]:
    """Per source, the payments whose net flow is not zero: those whose money makes up the figure
    (as funds.py counts /v1/funds). Flows kept before they named their payment count as one."""
    nets: Counter[tuple[str, str]] = Counter()
    for f in flows:
        nets[(f.source, f.payment or "?")] += f.amount_fen
    return Counter(source for (source, _), fen in nets.items() if fen)


def fund_counts(flows: Iterable[FundFlow], start: date) -> tuple[tuple[str, int, int, int, int], ...]:
    """The payments behind each figure of the fund table, by its rows (sources as printed): in
    本期支付, in what was paid before the period (累计 minus 本期), in 累计支付, in 预留余额."""
    known = list(flows)
    paid = [f for f in known if f.measure == "paid"]
    period, before = _payments_in(f for f in paid if f.on >= start), _payments_in(f for f in paid if f.on < start)
    total, reserved = _payments_in(paid), _payments_in(f for f in known if f.measure == "reserved")
    return tuple((SOURCES_ZH.get(s, s), period[s], before[s], total[s], reserved[s])
                 for s in sorted({f.source for f in known}))


def _quarters(start: date, end: date) -> set[str]:
    return {f"{start.year}Q{q}" for q in range((start.month - 1) // 3 + 1, (end.month - 1) // 3 + 2)}


def _months(start: date, end: date) -> set[str]:
    return {f"{start.year}-{m:02d}" for m in range(start.month, end.month + 1)}


def build_report(
    kind: ReportKind,
    period: str,
    *,
    cut_off: date,
    decisions: Iterable[DecisionRecord],
    flows: Iterable[FundFlow],
    targets: TargetSet,
    other_actuals: Mapping[str, Fraction | int | None] | None = None,
    skills: Mapping[str, SkillCounts] | None = None,
) -> ReportFigures:
    """The figures of one report. `skills`: SkillCounts per unit of the period's end."""
    start, end = period_bounds(kind, period)
    tally = ProgressTally.for_targets(targets).add_all(
        r for r in decisions if _known(r.decided_on, r.recorded_on, end, cut_off))
    known_flows = [f for f in flows if _known(f.on, f.recorded_on, end, cut_off)]
    funds = FundTally().add_all(known_flows)
    actuals: dict[str, Fraction | int | None] = dict(other_actuals or {})
    actuals["T1"], actuals["T4"] = sum(tally.person_times.values()), sum(tally.apprentices.values())
    quarters = _quarters(start, end)
    tables = (
        _target_table(assess_all(targets, actuals, end)),
        _district_table(tally, quarters, end, skills or {}),
        _dimension_table("三、分行业主管部门情况", "行业主管部门", tally, 2, quarters),
        _dimension_table("四、分政策条款情况", "条款", tally, 3, quarters),
        _group_table(tally, quarters),
        _fund_table(funds, _months(start, end)),
    )
    kept = tuple(sorted((u, c.skilled, c.high_skilled) for u, c in (skills or {}).items()))
    return ReportFigures(kind, period, start, end, cut_off, report_title(kind, period), tables, skills=kept,
                         fund_counts=fund_counts(known_flows, start))


# --- freezing --------------------------------------------------------------------------------


def figures_to_dict(figures: ReportFigures) -> dict[str, Any]:
    """JSON-ready form the store keeps when a report is issued."""
    return {
        "kind": figures.kind, "period": figures.period, "start": figures.start.isoformat(),
        "end": figures.end.isoformat(), "cut_off": figures.cut_off.isoformat(),
        "title": figures.title,
        "tables": [{"title": t.title, "headers": list(t.headers), "rows": [list(r) for r in t.rows]}
                   for t in figures.tables],
    } | ({"note": figures.note} if figures.note else {}) | (
        {"skill_counts": [list(c) for c in figures.skills]} if figures.skills is not None else {}) | (
        {"fund_counts": [list(c) for c in figures.fund_counts]} if figures.fund_counts is not None else {})


def figures_from_dict(data: Mapping[str, Any]) -> ReportFigures:
    tables = tuple(Table(t["title"], tuple(t["headers"]), tuple(tuple(r) for r in t["rows"]))
                   for t in data["tables"])
    return ReportFigures(data["kind"], data["period"], date.fromisoformat(data["start"]),
                         date.fromisoformat(data["end"]), date.fromisoformat(data["cut_off"]),
                         data["title"], tables, data.get("note", ""),
                         None if "skill_counts" not in data else tuple(
                             (str(u), int(sk), int(h)) for u, sk, h in data["skill_counts"]),
                         None if "fund_counts" not in data else tuple(
                             (str(s), int(p), int(b), int(t), int(r)) for s, p, b, t, r in data["fund_counts"]))


def _subtitle(figures: ReportFigures) -> str:
    return (f"统计期间：{figures.start.isoformat()} 至 {figures.end.isoformat()}；"
            f"数据截止：{figures.cut_off.isoformat()}；金额单位：元") + (f"；{figures.note}" if figures.note else "")


# --- renderers -------------------------------------------------------------------------------


def render_csv(figures: ReportFigures) -> bytes:
    """UTF-8 with BOM (Excel shows the Chinese headings), CRLF, one section per table."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([figures.title])
    writer.writerow([_subtitle(figures)])
    for table in figures.tables:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows(table.rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


SHEET_NAMES = ("目标进展", "分县区", "分部门", "分条款", "分群体", "资金使用")


def _fill_sheet(sheet: Any, figures: ReportFigures, table: Table) -> None:
    sheet.append([figures.title])
    sheet.append([_subtitle(figures)])
    sheet.append([table.title])
    sheet.append(list(table.headers))
    for row in table.rows:
        sheet.append(list(row))


def _workbook_bytes(figures: ReportFigures) -> bytes:
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    book = Workbook()
    book.remove(book.active)
    for name, table in zip(SHEET_NAMES, figures.tables, strict=False):
        _fill_sheet(book.create_sheet(name), figures, table)
    stamp = datetime(figures.cut_off.year, figures.cut_off.month, figures.cut_off.day)
    book.properties.created = book.properties.modified = stamp
    book.properties.creator = "SkillSub reporting"
    book.properties.title = figures.title
    buffer = io.BytesIO()
    # ExcelWriter rather than save_workbook: the latter stamps "modified" with the clock.
    ExcelWriter(book, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    return buffer.getvalue()


def _restamp_zip(data: bytes, day: date) -> bytes:
    """Rewrite every zip entry with the same fixed timestamp (zip entries carry the clock too)."""
    out = io.BytesIO()
    stamp = (max(day.year, 1980), day.month, day.day, 0, 0, 0)
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(item.filename))
    return out.getvalue()


def render_xlsx(figures: ReportFigures) -> bytes:
    """One sheet per table, docProps and zip entries stamped with the cut-off day."""
    return _restamp_zip(_workbook_bytes(figures), figures.cut_off)


HTML_STYLE = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:2em;color:#111}
h1{font-size:1.4em;text-align:center}p.sub{text-align:center;color:#444}
h2{font-size:1.1em;margin-top:1.5em}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #888;padding:.25em .5em}td.n{text-align:right}th{background:#eee}
@media print{body{margin:0}h2{break-after:avoid}table{break-inside:auto}tr{break-inside:avoid}}
"""


def _cell(value: Cell) -> str:
    numeric = isinstance(value, int) or str(value).replace(".", "").replace("-", "").isdigit()
    cls = ' class="n"' if numeric else ""
    return f"<td{cls}>{html.escape(str(value))}</td>"


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in table.rows)
    return (f"<h2>{html.escape(table.title)}</h2><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def render_html(figures: ReportFigures) -> bytes:
    """A printable page (A4 via the browser's print), self-contained: no external resources."""
    parts = [
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{html.escape(figures.title)}</title><style>{HTML_STYLE}</style></head><body>",
        f"<h1>{html.escape(figures.title)}</h1><p class=\"sub\">{html.escape(_subtitle(figures))}</p>",
        *(_html_table(t) for t in figures.tables),
        "</body></html>\n",
    ]
    return "".join(parts).encode("utf-8")


def render(figures: ReportFigures, fmt: Literal["csv", "xlsx", "html"]) -> bytes:
    return {"csv": render_csv, "xlsx": render_xlsx, "html": render_html}[fmt](figures)


MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
}
