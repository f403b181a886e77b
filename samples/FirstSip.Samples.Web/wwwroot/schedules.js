// FirstSip web sample, schedules page: a user's schedules with their next run times in each schedule's own
// time zone, and forms to add, pause, resume, trigger and remove them. Every value from the server is put into
// the page as text (textContent).
"use strict";

// The server sends each time with its zone's offset (for example 2026-03-09T07:00:00-04:00): show that wall
// time and offset as they are, not converted to the browser's zone.
function zoneTime(text) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.exec(text ?? "");
  return match ? `${match[1]} ${match[2]} (${match[3] === "Z" ? "+00:00" : match[3]})` : (text ?? "");
}

function user() {
  return $("schedule-user").value.trim() || "1";
}

function showErrors(messages) {
  const list = $("schedule-errors");
  list.replaceChildren(...messages.map((m) => el("li", m)));
}

async function act(path, method) {
  try {
    await api(path, { method });
    showErrors([]);
  } catch (e) {
    showErrors([e.message]);
  }
  await loadSchedules();
}

function row(schedule) {
  const tr = el("tr");
  tr.dataset.scheduleId = schedule.schedule_id;
  tr.append(el("td", schedule.plugin));
  tr.append(el("td", `${schedule.cron} in ${schedule.time_zone}`));
  const next = el("td");
  if (schedule.upcoming.length > 0) {
    const list = el("ol");
    for (const at of schedule.upcoming) list.append(el("li", zoneTime(at)));
    next.append(list);
  } else {
    next.textContent = "-";
  }
  tr.append(next);
  const state = el("td", schedule.enabled ? "active" : `paused: ${schedule.paused_reason ?? ""}`);
  if (!schedule.enabled) state.className = "paused";
  tr.append(state);
  const actions = el("td");
  const base = `/api/schedules/${encodeURIComponent(schedule.schedule_id)}`;
  const toggle = schedule.enabled
    ? el("button", "Pause", { type: "button", class: "secondary", "data-action": "pause" })
    : el("button", "Resume", { type: "button", class: "secondary", "data-action": "resume" });
  toggle.addEventListener("click", () => act(`${base}/${schedule.enabled ? "pause" : "resume"}`, "POST"));
  const trigger = el("button", "Run now", { type: "button", class: "secondary", "data-action": "trigger" });
  trigger.addEventListener("click", () => act(`${base}/trigger`, "POST"));
  const remove = el("button", "Remove", { type: "button", class: "danger", "data-action": "remove" });
  remove.addEventListener("click", () => act(base, "DELETE"));
  actions.append(toggle, trigger, remove);
  tr.append(actions);
  return tr;
}

async function loadSchedules() {
  const who = user();
  $("schedule-list-user").textContent = who;
  const schedules = await api(`/api/schedules?user_id=${encodeURIComponent(who)}&upcoming=3`);
  $("schedules-body").replaceChildren(...schedules.map(row));
  $("schedules-empty").hidden = schedules.length > 0;
}

async function loadPlugins() {
  const plugins = await api("/api/plugins");
  $("schedule-plugin").replaceChildren(...plugins.map((p) => el("option", p.name, { value: p.name })));
}

function frequencyChanged() {
  const cron = $("schedule-frequency").value === "cron";
  $("schedule-cron-label").hidden = !cron;
  $("schedule-time-label").hidden = cron;
}

async function addSchedule(event) {
  event.preventDefault();
  const frequency = $("schedule-frequency").value;
  const body = {
    plugin: $("schedule-plugin").value,
    user_id: user(),
    time_zone: $("schedule-zone").value.trim(),
  };
  if (frequency === "cron") {
    body.cron = $("schedule-cron").value.trim();
  } else {
    body.frequency = frequency;
    body.time = $("schedule-time").value.trim();
  }
  const settingsText = $("schedule-settings").value.trim();
  if (settingsText) {
    try {
      body.settings = JSON.parse(settingsText);
    } catch {
      showErrors(["settings must be a JSON object"]);
      return;
    }
  }
  try {
    await api("/api/schedules", { method: "POST", body: JSON.stringify(body) });
    showErrors([]);
  } catch (e) {
    showErrors([e.message, ...e.details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message))]);
  }
  await loadSchedules();
}

async function main() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) $("schedule-zone").value = zone;
  $("schedule-frequency").addEventListener("change", frequencyChanged);
  $("schedule-form").addEventListener("submit", addSchedule);
  $("schedule-user").addEventListener("change", loadSchedules);
  await loadPlugins();
  await loadSchedules();
}

main().catch((e) => showErrors([e.message]));
