// Dashboard of the reporting service. No libraries and no external requests: it reads the
// reporting API (/v1/progress, /v1/ratios, /v1/funds, /v1/districts; shapes documented in
// services/reporting/domain.py) and draws bars and lines as inline SVG.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg"; // a namespace name, never fetched

function formatInt(n) {
  return n === null || n === undefined ? "—" : String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

// Integer fen to a yuan string, without floating point: 150050 -> "1,500.50".
function formatYuan(fen) {
  if (fen === null || fen === undefined) return "—";
  const sign = fen < 0 ? "-" : "";
  const abs = Math.abs(fen);
  const cents = String(abs % 100).padStart(2, "0");
  return sign + formatInt(Math.floor(abs / 100)) + "." + cents;
}

function formatPct(share) {
  return share === null || share === undefined ? "—" : (share * 100).toFixed(2) + "%";
}

function formatTargetValue(target, value) {
  if (value === null || value === undefined) return "—";
  return target.kind === "share" ? formatPct(value) : formatInt(value);
}

function escapeXml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// A horizontal bar: filled to `share` (0..1), with a tick at `expected` (0..1).
function progressBarSvg(share, expected, behind) {
  const clamp = (x) => Math.max(0, Math.min(1, x || 0));
  const w = 400, h = 22, fill = behind ? "#b3261e" : "#2e7d32";
  const tick = expected === null || expected === undefined ? "" :
    `<line x1="${(clamp(expected) * w).toFixed(1)}" y1="0" x2="${(clamp(expected) * w).toFixed(1)}" y2="${h}" stroke="#111" stroke-width="2"/>`;
  return `<svg xmlns="${SVG_NS}" viewBox="0 0 ${w} ${h}" role="img" aria-label="完成 ${formatPct(share)}">` +
    `<rect x="0" y="0" width="${w}" height="${h}" fill="#e3e7ec"/>` +
    `<rect x="0" y="0" width="${(clamp(share) * w).toFixed(1)}" height="${h}" fill="${fill}"/>${tick}</svg>`;
}

// A line chart of one or more series over the same labels. series: [{name, values, color, dashed}]
function lineChartSvg(labels, series, formatY) {
  const w = 720, h = 260, left = 70, right = 20, top = 20, bottom = 40;
  const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
  const maxY = Math.max(1, ...all);
  const x = (i) => left + (labels.length <= 1 ? 0 : (i * (w - left - right)) / (labels.length - 1));
  const y = (v) => top + (h - top - bottom) * (1 - v / maxY);
  const parts = [`<svg xmlns="${SVG_NS}" viewBox="0 0 ${w} ${h}" role="img">`];
  for (let k = 0; k <= 4; k++) {
    const v = (maxY * k) / 4;
    parts.push(`<line x1="${left}" x2="${w - right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${escapeXml(formatY(v))}</text>`);
  }
  // Many labels (quarters over years) would overprint: keep about eight, evenly spaced.
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every !== 0 && i !== labels.length - 1) return;
    parts.push(`<text x="${x(i).toFixed(1)}" y="${h - bottom + 16}" font-size="10" text-anchor="middle">${escapeXml(label)}</text>`);
  });
  series.forEach((s, n) => {
    const points = s.values.map((v, i) => (v === null || v === undefined ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : "";
    parts.push(`<polyline class="series" data-name="${escapeXml(s.name)}" fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${points.join(" ")}"/>`);
    if (points.length <= 12) {  // few points (one year so far): mark each, a lone point draws no line
      points.forEach((p) => {
        const [px, py] = p.split(",");
        parts.push(`<circle cx="${px}" cy="${py}" r="3.5" fill="${s.color}"/>`);
      });
    }
    parts.push(`<text x="${left + 10 + n * 160}" y="${top - 6}" font-size="12" fill="${s.color}">${escapeXml(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

// Vertical bars, one per row: rows [{label, value}]
function barChartSvg(rows, formatY) {
  const w = 720, h = 240, left = 90, bottom = 50, top = 16;
  const maxY = Math.max(1, ...rows.map((r) => r.value));
  const band = rows.length ? (w - left - 10) / rows.length : 0;
  const parts = [`<svg xmlns="${SVG_NS}" viewBox="0 0 ${w} ${h}" role="img">`];
  rows.forEach((r, i) => {
    const bh = ((h - top - bottom) * Math.max(0, r.value)) / maxY;
    const bx = left + i * band + band * 0.15;
    parts.push(`<rect x="${bx.toFixed(1)}" y="${(h - bottom - bh).toFixed(1)}" width="${(band * 0.7).toFixed(1)}" height="${bh.toFixed(1)}" fill="#0b4f8a"/>`);
    parts.push(`<text x="${(bx + band * 0.35).toFixed(1)}" y="${h - bottom + 16}" font-size="11" text-anchor="middle">${escapeXml(r.label)}</text>`);
    parts.push(`<text x="${(bx + band * 0.35).toFixed(1)}" y="${(h - bottom - bh - 4).toFixed(1)}" font-size="10" text-anchor="middle">${escapeXml(formatY(r.value))}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

// T2/T3 are shares of the employed: without the statistics bureau's figures there is no share yet.
const AWAITS_STATISTICS = new Set(["T2", "T3"]);
const SOURCES_ZH = { unemployment_insurance_surplus: "失业保险基金结余", employment_subsidy: "就业补助资金",
  local_talent: "地方人才资金", industry_development: "产业发展资金" };

function targetRowHtml(t) {
  if (AWAITS_STATISTICS.has(t.id) && (t.actual === null || t.actual === undefined)) {
    return `<div class="target awaiting" data-target="${escapeXml(t.id)}">` +
      `<span class="label">${escapeXml(t.id)} ${escapeXml(t.name_zh)}</span>` +
      `<span class="value"><span class="actual awaiting">待统计局提供就业人员数</span> / ` +
      `<span class="goal">${formatTargetValue(t, t.goal)}</span></span></div>`;
  }
  const behind = t.behind ? " behind" : "";
  return `<div class="target${behind}" data-target="${escapeXml(t.id)}">` +
    `<span class="label">${escapeXml(t.id)} ${escapeXml(t.name_zh)}</span>` +
    progressBarSvg(t.progress, t.expected_progress, t.behind) +
    `<span class="value"><span class="actual">${formatTargetValue(t, t.actual)}</span> / ` +
    `<span class="goal">${formatTargetValue(t, t.goal)}</span></span></div>`;
}

function districtRowHtml(d) {
  const school = d.technical_school === null || d.technical_school === undefined ? "—" : (d.technical_school ? "有" : "无");
  return `<tr data-code="${escapeXml(d.code)}"><td>${escapeXml(d.name_zh)}</td>` +
    `<td class="person-times">${formatInt(d.person_times)}</td><td>${formatYuan(d.amount_fen)}</td>` +
    `<td>${formatPct(d.skilled_share)}</td>` +
    `<td>${formatPct(d.high_skilled_share)}</td><td>${school}</td></tr>`;
}

function renderProgress(doc, p) {
  doc.getElementById("as-of").textContent = p.as_of;
  doc.getElementById("targets").innerHTML = p.targets.map(targetRowHtml).join("");
  doc.getElementById("special-reports").innerHTML = p.special_reports
    .map((r) => `<div class="special" data-key="${escapeXml(r.key)}">${escapeXml(r.title_zh)}（${escapeXml(r.on)}）</div>`).join("");
  // The API keeps the flat T1 total in `person_times` and the breakdown beside it.
  const detail = p.person_times_detail || p.person_times;
  renderBreakdowns(doc, detail);
  renderOutcomes(doc, p.current_decisions);
  // The axis is the plan's (to 2021Q4); what was recorded after the plan is named beneath it.
  const q = detail.by_quarter.filter((r) => r.in_plan !== false);
  const later = detail.by_quarter.filter((r) => r.in_plan === false);
  const laterCount = later.some((r) => r.count === null || r.count === undefined) ? null :
    later.reduce((n, r) => n + r.count, 0);
  doc.getElementById("after-plan").textContent = !later.length ? "" : laterCount === null ?
    "计划期结束后另有记录（人数少于公开阈值，不予公布）。" : `计划期结束后另记录 ${formatInt(laterCount)} 人次。`;
  doc.getElementById("trend-chart").innerHTML = lineChartSvg(q.map((r) => r.quarter), [
    { name: "累计完成", values: q.map((r) => r.cumulative), color: "#0b4f8a" },
    { name: "进度要求", values: q.map((r) => r.expected), color: "#888", dashed: true },
  ], formatInt);
}

function breakdownRowHtml(key, r) {
  const small = r.suppressed ? "不足公开阈值" : null;
  return `<tr data-key="${escapeXml(r[key])}"><td>${escapeXml(r[key])}</td>` +
    `<td class="count">${small || formatInt(r.count)}</td><td class="amount">${small || formatYuan(r.amount_fen)}</td></tr>`;
}

// Outcomes as the decision API names them; pending: the holder's facts are still awaited.
const OUTCOMES = { approved: "批准", rejected: "不予补贴", needs_review: "待复核", pending: "待补信息（等待持证人信息）",
  reversed: "撤销" };

function renderOutcomes(doc, rows) {
  doc.querySelector("#by-outcome tbody").innerHTML = (rows || []).map((r) =>
    `<tr data-key="${escapeXml(r.outcome)}"><td>${escapeXml(OUTCOMES[r.outcome] || r.outcome)}</td>` +
    `<td class="count">${r.suppressed ? "不足公开阈值" : formatInt(r.count)}</td></tr>`).join("");
}

function renderBreakdowns(doc, detail) {
  doc.querySelector("#by-clause tbody").innerHTML = (detail.by_clause || []).map((r) => breakdownRowHtml("clause", r)).join("");
  doc.querySelector("#by-department tbody").innerHTML =
    (detail.by_department || []).map((r) => breakdownRowHtml("department", r)).join("");
}

function shareOrAwaiting(share) {
  return share === null || share === undefined ? "待统计局数据" : formatPct(share);
}

function renderRatios(doc, r) {
  doc.getElementById("skilled-share").textContent = shareOrAwaiting(r.city.skilled_share);
  doc.getElementById("high-skilled-share").textContent = shareOrAwaiting(r.city.high_skilled_share);
  doc.getElementById("skilled-goal").textContent = formatPct(r.goals.skilled_share);
  doc.getElementById("high-goal").textContent = formatPct(r.goals.high_skilled_share);
  doc.getElementById("ratio-chart").innerHTML = lineChartSvg(r.trend.map((t) => String(t.year)), [
    { name: "技能劳动者占比", values: r.trend.map((t) => t.skilled_share), color: "#0b4f8a" },
    { name: "高技能人才占比", values: r.trend.map((t) => t.high_skilled_share), color: "#c77700" },
  ], formatPct);
}

function renderDistricts(doc, d) {
  doc.querySelector("#districts tbody").innerHTML = d.districts.map(districtRowHtml).join("");
}

// Public fund use is cut at a month end and its small cells are null (docs/small-cells.md): they
// print as "—", and no figure here is a sum the page makes of the rows.
function renderFunds(doc, f) {
  doc.getElementById("funds-paid").textContent = formatYuan(f.totals.paid_fen);
  doc.getElementById("funds-reserved").textContent = formatYuan(f.totals.reserved_fen);
  doc.getElementById("funds-note").textContent = f.min_cell === null || f.min_cell === undefined ? "" :
    `截至 ${f.as_of}（按月末公布）；“—”表示不足 ${f.min_cell} 笔或可据以推算，不予公开。`;
  doc.getElementById("funds-chart").innerHTML = barChartSvg(f.by_source.map((s) =>
    ({ label: s.name_zh, value: s.paid_fen === null || s.paid_fen === undefined ? null : s.paid_fen / 100 })), formatInt);
  doc.querySelector("#funds-by-source tbody").innerHTML = f.by_source.map((s) =>
    `<tr data-source="${escapeXml(s.source)}"><td>${escapeXml(s.name_zh)}</td><td>${formatYuan(s.paid_fen)}</td>` +
    `<td>${formatYuan(s.reserved_fen)}</td></tr>`).join("");
}

// The special account lives in payments (its /v1/funds and /v1/fund-use are public: allocations
// and the waiting queue; balances and spending for staff tokens only, the public's spending is
// reporting's /v1/funds above): read there,
// at this host's port 8003 unless the page names it (?payments=… or data-payments-base).
function paymentsBase(doc) {
  const loc = doc.defaultView ? doc.defaultView.location : { protocol: "http:", hostname: "127.0.0.1", search: "" };
  return new URLSearchParams(loc.search).get("payments") || doc.body.dataset.paymentsBase ||
    `${loc.protocol}//${loc.hostname}:8003`;
}

// A suppressed count (docs/small-cells.md) shows as "—"; totals are the published ones, never a
// sum over hidden cells.
const countOrHidden = (n) => (n === null || n === undefined ? "—" : formatInt(n));

function renderAccount(doc, funds, use, totals) {
  const allocated = {};
  for (const a of use.allocated || []) {
    const k = `${a.source}|${a.district}`;
    allocated[k] = (allocated[k] || 0) + a.allocated_fen;
  }
  // Without a staff token payments answers no live balance (money_suppressed: a day's difference
  // would be one payment): the sums print "—", never a sum over hidden rows.
  const sum = (f) => (funds.some((x) => f(x) === null || f(x) === undefined) ? null
    : funds.reduce((n, x) => n + f(x), 0));
  doc.getElementById("account-allocated").textContent = formatYuan(Object.values(allocated).reduce((a, b) => a + b, 0));
  doc.getElementById("account-balance").textContent = formatYuan(sum((x) => x.balance_fen));
  doc.getElementById("account-reserved").textContent = formatYuan(sum((x) => x.reserved_fen));
  doc.getElementById("account-available").textContent = formatYuan(sum((x) => x.available_fen));
  doc.getElementById("account-waiting").textContent = countOrHidden(totals.waiting);
  doc.querySelector("#account-funds tbody").innerHTML = funds.map((x) =>
    `<tr data-source="${escapeXml(x.source)}" data-district="${escapeXml(x.district)}">` +
    `<td>${escapeXml(SOURCES_ZH[x.source] || x.source)}</td><td>${escapeXml(x.district)}</td>` +
    `<td>${formatYuan(allocated[`${x.source}|${x.district}`] || 0)}</td><td>${formatYuan(x.balance_fen)}</td>` +
    `<td>${formatYuan(x.reserved_fen)}</td><td class="available">${formatYuan(x.available_fen)}</td>` +
    `<td class="waiting">${countOrHidden(x.waiting)}</td></tr>`).join("");
}

// Its own status line: the reporting figures above stand whether or not payments answers.
async function loadAccount(doc) {
  const base = paymentsBase(doc);
  const status = doc.getElementById("account-status");
  try {
    const [funds, use, totals] = await Promise.all(["/v1/funds", "/v1/fund-use", "/v1/funds/totals"].map(async (path) => {
      const r = await fetch(base + path, { headers: { Accept: "application/json" } });
      if (!r.ok) throw new Error(path + " " + r.status);
      return r.json();
    }));
    renderAccount(doc, funds, use, totals);
    status.textContent = funds.some((x) => x.money_suppressed)
      ? "专账数据来自支付服务；余额、已占用与可用资金为实时数据，不对公众公开（支出见上方资金使用情况）"
      : "专账数据来自支付服务";
    doc.getElementById("account-section").dataset.loaded = "true";
  } catch (e) {
    status.textContent = "支付服务暂不可达，专账数据未加载";
    doc.getElementById("account-section").dataset.loaded = "false";
  }
}

const SECTIONS = [
  ["/v1/progress", renderProgress, "targets-section"],
  ["/v1/ratios", renderRatios, "ratio-section"],
  ["/v1/districts", renderDistricts, "districts-section"],
  ["/v1/funds", renderFunds, "funds-section"],
];

// Each section loads on its own: a section that needs a login (401/403) says so, the public
// parts (targets, fund use) still show.
async function loadSection(doc, base, [path, render, sectionId]) {
  const response = await fetch(base + path, { headers: { Accept: "application/json" } });
  if (response.status === 401 || response.status === 403) {
    doc.getElementById(sectionId).insertAdjacentHTML("beforeend", '<p class="note">该部分需登录后查看。</p>');
    return false;
  }
  if (!response.ok) throw new Error(path + " " + response.status);
  render(doc, await response.json());
  return true;
}

async function main(doc) {
  const base = doc.body.dataset.apiBase || "";
  const status = doc.getElementById("status");
  const account = loadAccount(doc);
  const results = await Promise.allSettled(SECTIONS.map((s) => loadSection(doc, base, s)));
  await account;
  const failed = results.filter((r) => r.status === "rejected");
  status.textContent = failed.length ? "部分数据加载失败" : "已加载";
  status.className = failed.length ? "error" : "ok";
  doc.body.dataset.loaded = "true"; // a hook for the headless-browser test
}

if (typeof module !== "undefined") {
  module.exports = { formatInt, formatYuan, formatPct, progressBarSvg, lineChartSvg, barChartSvg,
    targetRowHtml, districtRowHtml, renderProgress, renderRatios, renderDistricts, renderFunds, renderAccount,
    renderBreakdowns };
} else {
  document.addEventListener("DOMContentLoaded", () => main(document));
}
