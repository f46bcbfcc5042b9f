/* The reporting dashboard: reads /reporting/v1 with the user's bearer token, draws with Chart.js. */
(function () {
  "use strict";
  const API = "v1";
  const STATUS = { met: "Đạt / Met", at_risk: "Có nguy cơ / At risk", missed: "Không đạt / Missed" };
  const SEX = { female: "Nữ / F", male: "Nam / M", other: "Khác / Other", unknown: "Không rõ / Unknown" };
  const state = { orgUnit: null, trail: [], table: null, charts: {} };
  const $ = (id) => document.getElementById(id);

  const fromHash = new URLSearchParams(location.hash.slice(1));
  if (fromHash.get("token")) {
    sessionStorage.setItem("lanhmanh-token", fromHash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("token").value = sessionStorage.getItem("lanhmanh-token") || "";
  if (fromHash.get("period")) $("period").value = fromHash.get("period");

  function token() { return $("token").value.trim(); }

  async function get(path, params, asBlob) {
    const url = new URL(API + path, location.href);
    Object.entries(params || {}).forEach(([k, v]) => v && url.searchParams.set(k, v));
    const response = await fetch(url, { headers: { Authorization: "Bearer " + token() } });
    if (!response.ok) {
      let detail = response.statusText;
      try { const p = await response.json(); detail = (p.title_vi ? p.title_vi + " — " : "") + (p.detail || p.title); } catch (e) { /* not JSON */ }
      throw new Error(response.status + ": " + detail);
    }
    return asBlob ? response.blob() : response.json();
  }

  function fmt(row) {
    if (row.suppressed) return row.shown;
    if (row.value === null || row.value === undefined) return "—";
    return row.kind === "ratio" ? row.value.toLocaleString("vi-VN") + "%" : row.value.toLocaleString("vi-VN");
  }
  function target(row) {
    if (row.target_count) return row.target_count + "/" + row.denominator;
    if (row.target === null || row.target === undefined) return "";
    return row.kind === "ratio" ? row.target + "%" : String(row.target);
  }
  function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }

  function renderIndicators(table) {
    const body = $("indicator-table").querySelector("tbody");
    body.replaceChildren();
    table.indicators.forEach((row) => {
      const tr = document.createElement("tr");
      tr.dataset.indicator = row.id;
      tr.append(cell(row.section || ""));
      const name = cell(row.name_vi); const en = document.createElement("div");
      en.className = "en"; en.textContent = row.name_en; name.append(en); tr.append(name);
      tr.append(cell(fmt(row), "num"));
      tr.append(cell(row.kind === "ratio" && row.denominator !== null ? row.numerator + " / " + row.denominator : "", "num"));
      tr.append(cell(target(row), "num"));
      const status = cell(""); if (row.status) {
        const span = document.createElement("span"); span.className = "status " + row.status;
        span.textContent = STATUS[row.status]; status.append(span);
      }
      tr.append(status);
      body.append(tr);
    });
  }

  function renderCompare(table) {
    const select = $("compare");
    const chosen = select.value || "communes_communication";
    if (!select.options.length) {
      table.indicators.forEach((row) => select.add(new Option(row.name_vi, row.id)));
    }
    select.value = chosen;
    const spec = table.indicators.find((r) => r.id === select.value) || table.indicators[0];
    const rows = table.children.map((c) => ({ name: c.org_unit.name, row: c.indicators.find((r) => r.id === spec.id) }));
    const data = {
      labels: rows.map((r) => r.name),
      datasets: [{ label: "Kết quả / Value" + (spec.kind === "ratio" ? " (%)" : ""),
                   data: rows.map((r) => (r.row && !r.row.suppressed ? r.row.value : null)),
                   backgroundColor: rows.map((r) => ({ met: "#3c9d5d", at_risk: "#e0b500", missed: "#d0463b" }[r.row && r.row.status] || "#4a7fb0")) }],
    };
    if (spec.target !== null && spec.kind === "ratio") {
      data.datasets.push({ type: "line", label: "Kế hoạch / Target", data: rows.map(() => spec.target),
                           borderColor: "#1d2733", borderDash: [6, 4], pointRadius: 0, fill: false });
    }
    $("chart-children").parentElement.style.height = Math.max(260, 26 * rows.length + 80) + "px";
    draw("chart-children", { type: "bar", data, options: { indexAxis: "y", animation: false, responsive: true,
      maintainAspectRatio: false, scales: { y: { ticks: { autoSkip: false } } },
      plugins: { legend: { position: "bottom" }, title: { display: true, text: spec.name_vi } } } });
  }

  function draw(id, config) {
    if (state.charts[id]) state.charts[id].destroy();
    state.charts[id] = new Chart($(id), config);
  }

  function renderChildren(table) {
    const head = $("children").querySelector("thead");
    const body = $("children").querySelector("tbody");
    const shown = ["communes_communication", "establishments_reviewed", "establishments_inspected", "hotspots_eliminated", "communes_healthy"];
    const names = Object.fromEntries(table.indicators.map((r) => [r.id, r.name_en]));
    head.replaceChildren(); body.replaceChildren();
    const tr = document.createElement("tr");
    tr.append(cell("Đơn vị / Unit")); shown.forEach((id) => { const th = document.createElement("th"); th.textContent = names[id] || id; tr.append(th); });
    head.append(tr);
    table.children.forEach((child) => {
      const row = document.createElement("tr");
      row.dataset.code = child.org_unit.code;
      row.append(cell(child.org_unit.name));
      shown.forEach((id) => { const r = child.indicators.find((x) => x.id === id); row.append(cell(r ? fmt(r) : "", "num " + (r && r.status || ""))); });
      row.addEventListener("click", () => { state.trail.push({ code: state.orgUnit, name: table.org_unit.name }); state.orgUnit = child.org_unit.code; load(); });
      body.append(row);
    });
  }

  function renderBreadcrumb(table) {
    const crumb = $("breadcrumb"); crumb.replaceChildren();
    state.trail.forEach((step, i) => {
      const a = document.createElement("a"); a.textContent = step.name;
      a.addEventListener("click", () => { state.orgUnit = step.code; state.trail = state.trail.slice(0, i); load(); });
      crumb.append(a, document.createTextNode(" › "));
    });
    crumb.append(document.createTextNode(table.org_unit.name));
    $("unit-name").textContent = table.org_unit.name;
  }

  function renderTrend(trend) {
    const labels = trend.months.map((m) => m.period.slice(4) + "/" + m.period.slice(0, 4));
    const series = [["inspections_specialised", "Kiểm tra chuyên ngành / Specialised inspections", "#4a7fb0"],
                    ["inspections_inter_agency", "Kiểm tra liên ngành / Inter-agency inspections", "#3c9d5d"]];
    draw("chart-trend", { type: "line", data: { labels, datasets: series.map(([id, label, color]) => ({
      label, data: trend.months.map((m) => m[id]), borderColor: color, backgroundColor: color, tension: 0.25 })) },
      options: { animation: false, plugins: { legend: { position: "bottom" } } } });
  }

  function renderSupport(support) {
    const head = $("support-table").querySelector("thead");
    const body = $("support-table").querySelector("tbody");
    head.replaceChildren(); body.replaceChildren();
    const tr = document.createElement("tr");
    tr.append(cell("Huyện / District")); support.columns.forEach((c) => tr.append(cell(SEX[c] || c))); tr.append(cell("Tổng / Total"));
    head.append(tr);
    support.rows.forEach((r) => {
      const row = document.createElement("tr"); row.append(cell(r.district_name));
      support.columns.forEach((c) => row.append(cell(r.cells[c], "num"))); row.append(cell(r.total, "num"));
      body.append(row);
    });
    if (support.totals) {
      const row = document.createElement("tr"); row.append(cell("Toàn tỉnh / Province"));
      support.columns.forEach((c) => row.append(cell(support.totals[c], "num"))); row.append(cell(support.total, "num"));
      body.append(row);
    }
  }

  async function load() {
    $("message").textContent = "";
    if (!token()) { $("message").textContent = "Cần mã truy cập / An access token is needed."; return; }
    sessionStorage.setItem("lanhmanh-token", token());
    const period = $("period").value;
    try {
      const table = await get("/indicators", { org_unit: state.orgUnit, period });
      state.table = table; state.orgUnit = table.org_unit.code;
      if (table.plan && table.plan.title_vi) $("plan-title").textContent = table.plan.title_vi + " — " + (table.plan.title_en || "");
      renderBreadcrumb(table); renderIndicators(table); renderCompare(table); renderChildren(table);
      const [trend, support] = await Promise.all([
        get("/indicators/trend", { org_unit: state.orgUnit, year: period.slice(0, 4) }),
        table.org_unit.level === "commune" ? null : get("/support-indicators", { org_unit: state.orgUnit, period, measure: "people_supported", by: "sex" }),
      ]);
      renderTrend(trend);
      if (support) renderSupport(support);
      document.body.dataset.loaded = "true";
    } catch (error) {
      $("message").textContent = "Không tải được dữ liệu / Could not load: " + error.message;
    }
  }

  async function download(kind) {
    const period = $("period").value;
    const paths = { csv: ["/indicators/export.csv", "csv"], xlsx: ["/indicators/export.xlsx", "xlsx"],
                    report: ["/official-reports/" + (/Q/.test(period) ? period.slice(0, 4) : period) + ".xlsx", "xlsx"] };
    const [path, ext] = paths[kind];
    try {
      const blob = await get(path, { org_unit: state.orgUnit, period: kind === "report" ? null : period }, true);
      const a = document.createElement("a"); a.href = URL.createObjectURL(blob);
      a.download = "lanhmanh-" + kind + "-" + (state.orgUnit || "") + "-" + period + "." + ext; a.click();
    } catch (error) { $("message").textContent = error.message; }
  }

  $("load").addEventListener("click", load);
  $("period").addEventListener("change", load);
  $("compare").addEventListener("change", () => state.table && renderCompare(state.table));
  document.querySelectorAll("[data-export]").forEach((b) => b.addEventListener("click", () => download(b.dataset.export)));
  if (token()) load();
})();
