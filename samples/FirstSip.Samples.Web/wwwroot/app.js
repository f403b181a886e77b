// FirstSip web sample: a form generated from the plugin's settings schema, the runs table, a run's
// live progress over server-sent events, and its briefing. Plugin output is put into the page as text
// (textContent), except a briefing's Markdown, which the server renders to HTML with raw HTML disabled and
// then sanitizes (summary_html, content_html): text formatting, lists and http(s) links only, no script.
"use strict";

const TERMINAL = new Set(["completed", "failed", "timed_out", "cancelled"]);
let plugins = [];
let currentSource = null;

// ---- the settings form, generated from the JSON schema ----

function fieldFor(name, schema, value, required) {
  const label = el("label", schema.title ?? name);
  label.dataset.setting = name;
  let input;
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (schema.enum) {
    input = el("select");
    if (!required) input.append(el("option", "", { value: "" }));
    for (const option of schema.enum) input.append(el("option", option, { value: option }));
    if (value !== undefined) input.value = value;
    input.dataset.kind = "string";
  } else if (type === "boolean") {
    input = el("input", null, { type: "checkbox" });
    input.checked = value === true;
    input.dataset.kind = "boolean";
  } else if (type === "integer" || type === "number") {
    input = el("input", null, { type: "number", step: type === "integer" ? "1" : "any" });
    if (schema.minimum !== undefined) input.min = schema.minimum;
    if (schema.maximum !== undefined) input.max = schema.maximum;
    if (value !== undefined) input.value = value;
    input.dataset.kind = type;
  } else if (type === "array") {
    input = el("textarea", null, { rows: "3" });
    input.value = Array.isArray(value) ? value.join("\n") : "";
    input.dataset.kind = "array";
    label.append(el("span", " one per line", { class: "hint" }));
  } else {
    input = el("input", null, { type: "text" });
    if (schema.pattern) input.pattern = schema.pattern;
    if (value !== undefined && value !== null) input.value = value;
    input.dataset.kind = "string";
  }
  input.name = name;
  label.append(input);
  if (schema.description) label.append(el("span", schema.description, { class: "hint" }));
  return label;
}

function renderSettings() {
  const plugin = plugins.find((p) => p.name === $("plugin").value);
  const fieldset = $("settings");
  fieldset.replaceChildren(el("legend", "Settings"));
  $("plugin-description").textContent = plugin?.description ?? "";
  if (!plugin) return;
  const schema = plugin.settings_schema ?? {};
  const required = new Set(schema.required ?? []);
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const value = plugin.default_config?.[name] ?? property.default;
    fieldset.append(fieldFor(name, property, value, required.has(name)));
  }
}

function readSettings() {
  const settings = {};
  for (const input of $("settings").querySelectorAll("input, select, textarea")) {
    const kind = input.dataset.kind;
    if (kind === "boolean") settings[input.name] = input.checked;
    else if (kind === "array") settings[input.name] = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
    else if (input.value === "") continue;
    else if (kind === "integer" || kind === "number") settings[input.name] = Number(input.value);
    else settings[input.name] = input.value;
  }
  return settings;
}

async function startRun(event) {
  event.preventDefault();
  const errors = $("form-errors");
  errors.replaceChildren();
  $("start-button").disabled = true;
  try {
    const run = await api("/api/runs", {
      method: "POST",
      body: JSON.stringify({ plugin: $("plugin").value, user_id: $("user").value, settings: readSettings() }),
    });
    await refreshRuns();
    showRun(run.run_id);
  } catch (error) {
    errors.append(el("li", error.message));
    for (const detail of error.details) errors.append(el("li", `${detail.path}: ${detail.message}`));
  } finally {
    $("start-button").disabled = false;
  }
}

// ---- the runs table ----

async function refreshRuns() {
  const page = await api("/api/runs?page_size=20");
  const rows = page.items.map((run) => {
    const row = el("tr");
    row.dataset.runId = run.run_id;
    const status = el("td", run.status);
    status.dataset.status = run.status;
    const open = el("button", "Open", { type: "button" });
    open.addEventListener("click", () => showRun(run.run_id));
    const action = el("td");
    action.append(open);
    row.append(el("td", new Date(run.created_at).toLocaleTimeString()), el("td", run.plugin),
      el("td", run.user_id), status, el("td", run.last_step ?? ""), action);
    return row;
  });
  $("runs-body").replaceChildren(...rows);
}

// ---- one run: live progress and the briefing ----

function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function queueText(queue) {
  const oldest = queue.oldest_waiting_since ? `, the oldest for ${duration(Date.now() - Date.parse(queue.oldest_waiting_since))}` : "";
  const parts = [`Queue: ${queue.waiting} waiting for a worker${oldest}, ${queue.running} running, ${queue.pending} not yet published.`];
  if (queue.stream) {
    const undelivered = queue.stream.undelivered ?? "?";
    parts.push(`${queue.stream.stream_name}: ${undelivered} not yet delivered to a worker, ${queue.stream.delivered} delivered and not finished, ${queue.stream.consumers} consumers in ${queue.stream.group_name}.`);
  } else {
    parts.push(`The request stream cannot be read: ${queue.stream_error ?? "Redis is unreachable"}.`);
  }
  return parts.join(" ");
}

async function refreshQueue() {
  $("queue").textContent = queueText(await api("/api/queue"));
}

// While the open run waits for a worker, says for how long and how many runs are ahead of it.
let waitingTimer = null;
async function showWaiting(run) {
  clearInterval(waitingTimer);
  const waiting = $("run-waiting");
  if (run.status !== "dispatched" && run.status !== "pending") {
    waiting.hidden = true;
    return;
  }
  const detail = await api(`/api/runs/${run.run_id}`);
  const queue = await api(`/api/queue?run_id=${run.run_id}`);
  const render = () => {
    if (detail.status === "pending") {
      waiting.textContent = `Not yet published (created ${duration(Date.now() - Date.parse(detail.created_at))} ago); it goes out when Redis is reachable.`;
    } else {
      const ahead = queue.ahead ? `, ${queue.ahead} runs ahead of it` : "";
      waiting.textContent = `Waiting for a worker for ${duration(Date.now() - Date.parse(detail.dispatched_at ?? detail.created_at))}${ahead}.`;
    }
  };
  render();
  waiting.hidden = false;
  waitingTimer = setInterval(render, 1000);
}

function setStatus(run) {
  const status = $("run-status");
  if (status.textContent !== run.status && $("run").dataset.runId) {
    showWaiting({ ...run, run_id: $("run").dataset.runId }).catch(() => {});
  }
  status.textContent = run.status;
  status.dataset.status = run.status;
  $("cancel-button").disabled = TERMINAL.has(run.status);
  $("run-error").textContent = run.error ?? "";
}

// The server's sanitized HTML of the briefing's Markdown; plain text when a briefing comes without it.
function setHtml(node, html, text) {
  if (typeof html === "string") node.innerHTML = html;
  else node.textContent = text ?? "";
}

function renderBriefing(briefing) {
  $("briefing").hidden = false;
  setHtml($("briefing-summary"), briefing.summary_html, briefing.summary);
  const sections = (briefing.sections ?? []).map((section) => {
    const part = el("section");
    const content = el("div", null, { class: "content" });
    setHtml(content, section.content_html, section.content);
    part.append(el("h4", section.title), content);
    return part;
  });
  $("briefing-sections").replaceChildren(...sections);
}

// A run whose progress events were already trimmed from the stream still shows the last step it reached.
async function showLastStep(runId) {
  const run = await api(`/api/runs/${runId}`);
  if (run.last_step && $("run").dataset.runId === runId && $("progress").children.length === 0) {
    $("progress").append(el("li", run.last_step));
  }
}

async function showRun(runId) {
  if (currentSource) currentSource.close();
  $("run").hidden = false;
  $("run").dataset.runId = runId;
  $("run-id").textContent = runId;
  $("progress").replaceChildren();
  $("briefing").hidden = true;
  $("run-status").textContent = "";
  $("run-waiting").hidden = true;
  clearInterval(waitingTimer);
  $("run").scrollIntoView({ block: "start" });
  const run = await api(`/api/runs/${runId}`);
  setStatus(run);

  const source = new EventSource(`/api/runs/${runId}/events`);
  currentSource = source;
  source.addEventListener("update", async (message) => {
    const update = JSON.parse(message.data);
    setStatus(update);
    if (update.step || update.message) {
      $("progress").append(el("li", [update.step, update.message].filter(Boolean).join(": ")));
    }
    if (TERMINAL.has(update.status)) {
      source.close();
      if ($("progress").children.length === 0) showLastStep(runId).catch(() => {});
      await refreshRuns();
      if (update.status === "completed") {
        renderBriefing(await api(`/api/runs/${runId}/briefing`).catch(() => ({ summary: "(this run produced no briefing)" })));
      }
    }
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) currentSource = null; };
}

async function cancelRun() {
  const runId = $("run").dataset.runId;
  if (runId) await api(`/api/runs/${runId}/cancel`, { method: "POST" });
}

// An empty catalog is said on the page, with the folder the host reads and what to change.
async function showCatalogProblem() {
  const catalog = await api("/api/catalog");
  const problem = $("catalog-problem");
  problem.textContent = catalog.problem ?? "";
  problem.hidden = !catalog.problem;
  $("start-button").disabled = Boolean(catalog.problem);
}

async function init() {
  plugins = await api("/api/plugins");
  if (plugins.length === 0) await showCatalogProblem();
  $("plugin").replaceChildren(...plugins.map((p) => el("option", p.name, { value: p.name })));
  $("plugin").addEventListener("change", renderSettings);
  $("run-form").addEventListener("submit", startRun);
  $("cancel-button").addEventListener("click", cancelRun);
  renderSettings();
  await Promise.all([refreshRuns(), refreshQueue().catch(() => {})]);
  setInterval(() => refreshRuns().catch(() => {}), 5000);
  setInterval(() => refreshQueue().catch(() => {}), 5000);
}

init().catch((error) => { $("form-errors").append(el("li", `Could not load the page: ${error.message}`)); });
