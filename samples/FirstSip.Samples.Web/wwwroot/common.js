// FirstSip web sample, helpers of the start page (app.js) and the schedules page (schedules.js): an element
// whose text is set as text (textContent, never HTML), and a JSON API call that turns an error answer into an
// Error with the server's message and its details.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(body?.error ?? `${response.status} ${response.statusText}`);
    error.details = body?.errors ?? [];
    throw error;
  }
  return body;
}
