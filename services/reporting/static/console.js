// The staff console: one page, no library, no CDN. It logs in with the staff member's own client
// credentials at the registry's token endpoint and then calls the services' public APIs with that
// bearer token, exactly as a system client does: the services check the role and audit each write.
// Service addresses: ?registry=…&eligibility=…&payments=…&reporting=… or this host's ports 8001–8004.
"use strict";

const PORTS = { registry: 8001, eligibility: 8002, payments: 8003, reporting: 8004 };
const ROLES = { bureau: "人社局审核员", hr: "人社支付审批", finance: "财政放款", auditor: "审计",
  security_admin: "安全管理员", district: "县区", institution: "培训机构", feeder: "数据报送" };
const SOURCES = { unemployment_insurance_surplus: "失业保险基金结余", employment_subsidy: "就业补助资金",
  local_talent: "地方人才资金", industry_development: "产业发展资金" };
const SIGNALS = { issued_before_class_end: "结业前发证", overlapping_classes: "同一人时间重叠的培训班",
  same_day_two_institutions: "同日两家机构发证", volume_spike: "月度发证量异常", shared_contact: "多名学员共用电话或银行账户" };
const OUTCOMES = { approved: "通过", rejected: "不予补贴", needs_review: "待人工复核", reversed: "已撤销" };
const state = { token: null, role: null, client: null };
const $ = (id) => document.getElementById(id);

function base(service) {
  const given = new URLSearchParams(location.search).get(service);
  return given || `${location.protocol}//${location.hostname}:${PORTS[service]}`;
}

function say(text, ok = true) {
  const m = $("message");
  m.textContent = text;
  m.className = ok ? "ok" : "error";
}

function yuan(fen) {
  const f = Math.abs(Number(fen));
  return `${fen < 0 ? "-" : ""}${Math.floor(f / 100).toLocaleString("en-US")}.${String(f % 100).padStart(2, "0")}`;
}

function fen(text) {  // "1,234.5" -> 123450, exactly (no floating point)
  const m = String(text).replace(/,/g, "").trim().match(/^(\d+)(?:\.(\d{1,2}))?$/);
  if (!m) throw new Error(`金额格式不正确：${text}`);
  return Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
}

async function api(service, path, { method = "GET", body, form, idempotent = false } = {}) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (idempotent) headers["Idempotency-Key"] = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  let payload;
  if (form) {
    payload = new URLSearchParams(form);
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(base(service) + path, { method, headers, body: payload });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) {
    const detail = data && (data.detail || data.error_description || data.title);
    const err = new Error(`${r.status} ${detail || r.statusText}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

function cell(tr, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  tr.appendChild(td);
  return td;
}

function control(td, tag, attrs) {
  const el = document.createElement(tag);
  Object.assign(el, attrs);
  td.appendChild(el);
  return el;
}

function rows(tableId, items, fill) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    fill(tr, item);
    body.appendChild(tr);
  }
  if (!items.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, "暂无");
    td.colSpan = $(tableId).querySelectorAll("th").length;
    body.appendChild(tr);
  }
}

function claims(token) {
  const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, "=")), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

async function login(event) {
  event.preventDefault();
  try {
    const got = await api("registry", "/v1/oauth/token", { method: "POST", form: {
      grant_type: "client_credentials", client_id: $("login-id").value, client_secret: $("login-secret").value } });
    state.token = got.access_token;
    const c = claims(state.token);
    state.role = c.role;
    state.client = c.sub;
    $("login-secret").value = "";
    $("who").textContent = `已登录：${c.sub}（${ROLES[c.role] || c.role}）`;
    $("who").dataset.role = c.role;
    $("logout").hidden = false;
    $("login-section").hidden = true;
    for (const s of document.querySelectorAll("section[data-roles]")) {
      s.hidden = !s.dataset.roles.split(" ").includes(c.role);
    }
    say("登录成功");
    await refresh();
  } catch (e) {
    say(`登录失败：${e.message}`, false);
  }
}

function logout() {
  state.token = state.role = state.client = null;
  $("who").textContent = "";
  $("who").dataset.role = "";
  $("logout").hidden = true;
  $("login-section").hidden = false;
  for (const s of document.querySelectorAll("section[data-roles]")) s.hidden = true;
  say("已退出");
}

async function refresh() {
  const r = state.role;
  const jobs = [];
  if (r === "bureau" || r === "auditor") jobs.push(loadReviews(), loadSignals(), loadObjections());
  if (r === "hr") jobs.push(loadBatches("open", "open-batches"), loadItems("drafted", "drafted-items"));
  if (r === "finance") jobs.push(loadBatches("approved", "approved-batches"), loadItems("approved", "approved-items"),
    loadFunds());
  await Promise.all(jobs);
  document.body.dataset.loaded = String(Date.now());
}

async function act(label, work) {
  try {
    const out = await work();
    say(`${label}：成功`);
    await refresh();
    return out;
  } catch (e) {
    say(`${label}：失败（${e.message}）`, false);
    return null;
  }
}

async function loadReviews() {
  const items = await api("eligibility", "/v1/reviews?status=open");
  rows("reviews", items, (tr, v) => {
    tr.dataset.review = v.review_id;
    tr.dataset.decision = v.decision_id;
    cell(tr, v.review_id.slice(0, 8));
    cell(tr, v.origin === "requested" ? "当事人申请" : "规则要求复核");
    cell(tr, v.clause);
    cell(tr, OUTCOMES[v.outcome] || v.outcome);
    cell(tr, yuan(v.amount_fen));
    cell(tr, v.explanation_zh || "");
    const amount = control(cell(tr, ""), "input", { className: "review-amount", placeholder: "按规则" });
    const reason = control(cell(tr, ""), "input", { className: "review-reason", placeholder: "复核意见" });
    const ops = cell(tr, "");
    if (state.role !== "bureau") return;
    const decide = (action) => act(action === "approve" ? "批准复核" : "驳回复核", () => api("eligibility",
      `/v1/reviews/${v.review_id}/resolution`, { method: "POST", body: {
        action, reason: reason.value || "（未填写）", amount_fen: amount.value ? fen(amount.value) : null } }));
    control(ops, "button", { textContent: "批准", className: "approve-review", onclick: () => decide("approve") });
    control(ops, "button", { textContent: "驳回", className: "reject-review", onclick: () => decide("reject") });
  });
}

async function loadSignals() {
  const items = await api("eligibility", "/v1/fraud-signals?status=open");
  rows("signals", items, (tr, s) => {
    tr.dataset.signal = s.signal_id;
    cell(tr, SIGNALS[s.kind] || s.kind);
    cell(tr, s.institution_code || "");
    cell(tr, JSON.stringify(s.evidence));
    cell(tr, new Date(s.detected_at).toLocaleString("zh-CN"));
    const reason = control(cell(tr, ""), "input", { className: "signal-reason", placeholder: "核查意见" });
    const ops = cell(tr, "");
    if (state.role !== "bureau") return;
    const resolve = (action) => act(action === "confirm" ? "确认信号" : "排除信号", () => api("eligibility",
      `/v1/fraud-signals/${s.signal_id}/resolution`, { method: "POST", body: { action, reason: reason.value || "已核查" } }));
    control(ops, "button", { textContent: "确认", className: "confirm-signal", onclick: () => resolve("confirm") });
    control(ops, "button", { textContent: "排除", className: "dismiss-signal", onclick: () => resolve("dismiss") });
  });
}

async function loadObjections() {
  // Objections to a public notice (公示) come with the notice; without that API the section stays hidden.
  try {
    const items = await api("eligibility", "/v1/objections?status=open");
    $("objections-section").hidden = false;
    rows("objections", items, (tr, o) => {
      cell(tr, String(o.objection_id || "").slice(0, 8));
      cell(tr, String(o.decision_id || "").slice(0, 8));
      cell(tr, o.reason || "");
      cell(tr, o.status || "");
    });
  } catch (e) {
    if (e.status !== 404) throw e;
    $("objections-section").hidden = true;
  }
}

async function loadBatches(status, tableId) {
  const items = await api("payments", `/v1/batches?status=${status}`);
  rows(tableId, items, (tr, b) => {
    tr.dataset.batch = b.batch_id;
    cell(tr, b.batch_id.slice(0, 8));
    cell(tr, b.items);
    cell(tr, yuan(b.total_fen));
    cell(tr, status === "open" ? b.created_by : b.approved_by);
    const ops = cell(tr, "");
    if (status === "open") {
      control(ops, "button", { textContent: "审批通过", className: "approve-batch", onclick: () => act("审批批次",
        () => api("payments", `/v1/batches/${b.batch_id}/approve`, { method: "POST", idempotent: true })) });
    } else {
      control(ops, "button", { textContent: "放款", className: "release-batch", onclick: () => act("放款",
        () => api("payments", `/v1/batches/${b.batch_id}/release`, { method: "POST", idempotent: true })) });
    }
  });
}

// Allocations and recoveries are maker-checker (十二.2): drafted by hr or finance, approved by hr
// (not the drafter), booked by finance (neither of them). The services enforce it; the page lists.
const ITEM_KINDS = { allocation: "拨款", recovery: "收回" };

async function loadItems(status, tableId) {
  const items = await api("payments", `/v1/manual-items?status=${status}`);
  rows(tableId, items, (tr, m) => {
    tr.dataset.item = m.item_id;
    cell(tr, m.reference);
    cell(tr, ITEM_KINDS[m.kind] || m.kind);
    cell(tr, yuan(m.amount_fen));
    cell(tr, status === "drafted" ? m.drafted_by : m.approved_by);
    const ops = cell(tr, "");
    if (status === "drafted") {
      control(ops, "button", { textContent: "审批通过", className: "approve-item", onclick: () => act("审批拨款",
        () => api("payments", `/v1/manual-items/${m.item_id}/approve`, { method: "POST", idempotent: true })) });
    } else {
      control(ops, "button", { textContent: "入账", className: "release-item", onclick: () => act("拨款入账",
        () => api("payments", `/v1/manual-items/${m.item_id}/release`, { method: "POST", idempotent: true })) });
    }
  });
}

async function loadFunds() {
  const items = await api("payments", "/v1/funds");
  rows("funds", items, (tr, f) => {
    cell(tr, SOURCES[f.source] || f.source);
    cell(tr, f.district);
    cell(tr, yuan(f.balance_fen));
    cell(tr, yuan(f.reserved_fen));
    cell(tr, yuan(f.available_fen));
    cell(tr, f.waiting);
  });
}

async function createBatch(event) {
  event.preventDefault();
  const body = {};
  if ($("batch-source").value) body.source = $("batch-source").value;
  if ($("batch-district").value) body.district = $("batch-district").value;
  await act("生成批次", () => api("payments", "/v1/batches", { method: "POST", body, idempotent: true }));
}

async function allocate(event) {
  event.preventDefault();
  let amount;
  try { amount = fen($("alloc-yuan").value); } catch (e) { say(e.message, false); return; }
  await act("起草拨款", () => api("payments", "/v1/allocations", { method: "POST", idempotent: true, body: {
    reference: $("alloc-ref").value, source: $("alloc-source").value, district: $("alloc-district").value,
    amount_fen: amount } }));
}

async function importStatement(event) {
  event.preventDefault();
  const out = await act("导入对账单", () => api("payments", "/v1/statements", { method: "POST", idempotent: true,
    body: { reference: $("stmt-ref").value, csv: $("stmt-csv").value } }));
  if (out) say(`导入对账单：成功（${JSON.stringify(out)}）`);
}

async function createClient(event) {
  event.preventDefault();
  const body = { client_id: $("client-id").value, role: $("client-role").value };
  if ($("client-institution").value) body.institution_id = $("client-institution").value;
  const districts = $("client-districts").value.split(",").map((d) => d.trim()).filter(Boolean);
  if (districts.length) body.districts = districts;
  const out = await act("签发账号", () => api("registry", "/v1/clients", { method: "POST", body }));
  $("client-secret").textContent = out ? `账号 ${out.client_id} 的密码（只显示这一次）：${out.client_secret}` : "";
}

async function revokeClient(event) {
  event.preventDefault();
  await act("吊销账号", () => api("registry", `/v1/clients/${encodeURIComponent($("revoke-id").value)}`,
    { method: "DELETE" }));
}

async function loadAudit() {
  const service = $("audit-service").value;
  try {
    let after = 0;
    let all = [];
    for (let page = 0; page < 50; page++) {
      const got = await api(service, `/v1/audit?after_seq=${after}&limit=1000`);
      all = all.concat(got);
      if (got.length < 1000) break;
      after = got[got.length - 1].seq;
    }
    rows("audit", all.slice(-200).reverse(), (tr, e) => {
      cell(tr, e.seq);
      cell(tr, new Date(e.at).toLocaleString("zh-CN"));
      cell(tr, e.actor);
      cell(tr, ROLES[e.role] || e.role);
      cell(tr, e.action);
      cell(tr, e.outcome);
    });
    say(`审计日志：共 ${all.length} 条`);
  } catch (e) {
    say(`读取审计日志失败：${e.message}`, false);
  }
}

async function verifyAudit() {
  const service = $("audit-service").value;
  try {
    const v = await api(service, "/v1/audit/verification");
    $("audit-result").textContent = v.ok ? `哈希链完整（${v.entries} 条）` : `哈希链损坏：第 ${v.first_bad_seq} 条（${v.problem}）`;
    $("audit-result").dataset.ok = String(v.ok);
  } catch (e) {
    say(`验证失败：${e.message}`, false);
  }
}

function fillSources() {
  for (const id of ["batch-source", "alloc-source"]) {
    for (const [value, label] of Object.entries(SOURCES)) {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = label;
      $(id).appendChild(o);
    }
  }
}

fillSources();
$("login-form").addEventListener("submit", login);
$("logout").addEventListener("click", logout);
$("batch-form").addEventListener("submit", createBatch);
$("allocation-form").addEventListener("submit", allocate);
$("statement-form").addEventListener("submit", importStatement);
$("client-form").addEventListener("submit", createClient);
$("revoke-form").addEventListener("submit", revokeClient);
$("audit-load").addEventListener("click", loadAudit);
$("audit-verify").addEventListener("click", verifyAudit);
document.body.dataset.ready = "true";
