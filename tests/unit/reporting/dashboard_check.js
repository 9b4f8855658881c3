// Run by test_reporting_dashboard.py: renders the API JSON given on stdin with dashboard.js into
// a fake document and prints what landed in each element as JSON.
"use strict";
const path = require("path");
const dash = require(path.resolve(process.argv[2]));

const elements = {};
const fakeDoc = {
  getElementById: (id) => (elements[id] = elements[id] || { id, textContent: "", innerHTML: "" }),
  querySelector: (sel) => (elements[sel] = elements[sel] || { id: sel, textContent: "", innerHTML: "" }),
};
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const api = JSON.parse(input);
  dash.renderProgress(fakeDoc, api.progress);
  dash.renderRatios(fakeDoc, api.ratios);
  dash.renderDistricts(fakeDoc, api.districts);
  dash.renderFunds(fakeDoc, api.funds);
  const out = {};
  for (const [k, v] of Object.entries(elements)) out[k] = v.innerHTML || v.textContent;
  out.yuan = [dash.formatYuan(150050), dash.formatYuan(-5), dash.formatYuan(123456789)];
  out.bar = dash.progressBarSvg(0.5, 0.25, false);
  process.stdout.write(JSON.stringify(out));
});
