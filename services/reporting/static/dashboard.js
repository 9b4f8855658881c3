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

function targetRowHtml(t) {
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
    `<td class="paid">${formatYuan(d.paid_fen)}</td><td>${formatPct(d.skilled_share)}</td>` +
    `<td>${formatPct(d.high_skilled_share)}</td><td>${school}</td></tr>`;
}

function renderProgress(doc, p) {
  doc.getElementById("as-of").textContent = p.as_of;
  doc.getElementById("targets").innerHTML = p.targets.map(targetRowHtml).join("");
  doc.getElementById("special-reports").innerHTML = p.special_reports
    .map((r) => `<div class="special" data-key="${escapeXml(r.key)}">${escapeXml(r.title_zh)}（${escapeXml(r.on)}）</div>`).join("");
  // The API keeps the flat T1 total in `person_times` and the breakdown beside it.
  const q = (p.person_times_detail || p.person_times).by_quarter;
  doc.getElementById("trend-chart").innerHTML = lineChartSvg(q.map((r) => r.quarter), [
    { name: "累计完成", values: q.map((r) => r.cumulative), color: "#0b4f8a" },
    { name: "进度要求", values: q.map((r) => r.expected), color: "#888", dashed: true },
  ], formatInt);
}

function renderRatios(doc, r) {
  doc.getElementById("skilled-share").textContent = formatPct(r.city.skilled_share);
  doc.getElementById("high-skilled-share").textContent = formatPct(r.city.high_skilled_share);
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

function renderFunds(doc, f) {
  doc.getElementById("funds-paid").textContent = formatYuan(f.totals.paid_fen);
  doc.getElementById("funds-reserved").textContent = formatYuan(f.totals.reserved_fen);
  doc.getElementById("funds-chart").innerHTML = barChartSvg(
    f.by_source.map((s) => ({ label: s.name_zh, value: s.paid_fen / 100 })), formatInt);
  doc.querySelector("#funds-by-source tbody").innerHTML = f.by_source.map((s) =>
    `<tr data-source="${escapeXml(s.source)}"><td>${escapeXml(s.name_zh)}</td><td>${formatYuan(s.paid_fen)}</td>` +
    `<td>${formatYuan(s.reserved_fen)}</td></tr>`).join("");
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
  const results = await Promise.allSettled(SECTIONS.map((s) => loadSection(doc, base, s)));
  const failed = results.filter((r) => r.status === "rejected");
  status.textContent = failed.length ? "部分数据加载失败" : "已加载";
  status.className = failed.length ? "error" : "ok";
  doc.body.dataset.loaded = "true"; // a hook for the headless-browser test
}

if (typeof module !== "undefined") {
  module.exports = { formatInt, formatYuan, formatPct, progressBarSvg, lineChartSvg, barChartSvg,
    targetRowHtml, districtRowHtml, renderProgress, renderRatios, renderDistricts, renderFunds };
} else {
  document.addEventListener("DOMContentLoaded", () => main(document));
}
