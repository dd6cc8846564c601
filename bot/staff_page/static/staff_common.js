// What every part of the staff page shares: the texts, the language, the status line and a small
// DOM builder that only ever sets text (never HTML).
export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
export const T = {};
/** Who is logged in: GET /staff/api/me ({user, role, csrf, review_needed}), null before. */
export const session = { me: null };

// Draw the current view again after the draft changed (publish, discard). staff.js registers its
// router here, so the views need not import staff.js (which imports them).
const redraws = [];
export function onRedraw(fn) { redraws.push(fn); }
export async function redraw(options) { for (const fn of redraws) await fn(options); }
const PREFIX = "staff_page.";
let LANG = null;

/** Take the texts (keys with or without "staff_page.") and fill every [data-t] element. */
export function setTexts(texts, givenLang) {
  for (const [key, value] of Object.entries(texts || {})) {
    T[key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key] = value;
  }
  if (givenLang === "sv" || givenLang === "en") LANG = LANG || givenLang;
  applyTexts(document);
}

export function applyTexts(root) {
  root.querySelectorAll("[data-t]").forEach((node) => {
    const text = T[node.dataset.t];
    if (text !== undefined) node.textContent = text;
  });
  root.querySelectorAll("[data-t-aria-label]").forEach((node) => {
    const text = T[node.dataset.tAriaLabel];
    if (text !== undefined) node.setAttribute("aria-label", text);
  });
  if (root === document && T.title) document.title = T.title;
}

/** The page's language: ?lang= first, then what the server rendered, then Swedish. */
export function lang() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "sv" || asked === "en") return asked;
  return LANG || "sv";
}

export function otherLang() {
  return lang() === "sv" ? "en" : "sv";
}

/** A text with its {placeholders} filled in. */
export function t(key, values) {
  let text = T[key];
  if (text === undefined) return "";
  for (const [name, value] of Object.entries(values || {})) {
    text = text.split("{" + name + "}").join(String(value));
  }
  return text;
}

/** Tell the user something through the live status region. */
export function say(text) {
  const status = document.getElementById("status");
  status.textContent = "";
  // A fresh text node in a later task, so screen readers announce even a repeated message.
  window.setTimeout(() => { status.textContent = text; }, 30);
}

/**
 * Build an element: dom("p", {class: "hint", id: "x", text: "..."}, child, "text", ...).
 * `text` sets textContent; `on*` functions become listeners; false/null attributes are left out.
 */
export function dom(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "value") node.value = value;
    else if (name === "checked") node.checked = Boolean(value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An id for an element that belongs to the field `key` ("phrasings.sv.2" → "f-phrasings-sv-2"). */
export function fieldId(key, prefix = "f") {
  return prefix + "-" + key.replace(/[^A-Za-z0-9_-]+/g, "-");
}

/**
 * A labelled field wrapper: label, optional hint, the control and the place its problem goes.
 * `key` is the field name the server's 422 problems use.
 */
export function field(key, label, control, hint, extraClass) {
  const id = fieldId(key);
  control.id = id;
  const hintId = hint ? fieldId(key, "h") : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  const labelNode = dom("label", { for: id, text: label });
  const hintNode = hint ? dom("p", { class: "hint", id: hintId, text: hint }) : null;
  const parts = control.type === "checkbox"
    ? [dom("div", { class: "check" }, control, labelNode), hintNode] : [labelNode, hintNode, control];
  return dom("div", { class: "field" + (extraClass ? " " + extraClass : ""), dataset: { field: key } },
    ...parts, dom("p", { class: "problem", id: fieldId(key, "p"), hidden: true }));
}

/** A date and time as staff read it, in Stockholm time. */
export function formatWhen(value) {
  if (!value) return "";
  const when = new Date(value);
  if (Number.isNaN(when.getTime())) return String(value);
  return when.toLocaleString(lang() === "sv" ? "sv-SE" : "en-GB",
    { timeZone: "Europe/Stockholm", dateStyle: "medium", timeStyle: "short" });
}

/** Remove every child of a node. */
export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** "2026-12-01" of a local Date. */
export function isoDay(day) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
}
