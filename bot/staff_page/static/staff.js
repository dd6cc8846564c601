// The staff knowledge page (/staff/): entries, hours, test chat, drafts, publish, history, gaps and
// review reminders on the JSON API under /staff/api/. Every word comes from
// knowledge/texts/staff_page.yaml (GET /staff/api/texts, or the page data the server puts in).
// Everything a person typed is shown with textContent, never as HTML.
import { onRedraw, say, session, setTexts, t, T, lang, otherLang } from "./staff_common.js";
import { api, setCsrf } from "./staff_api.js";
import { entriesView } from "./staff_entries.js";
import { editorDirty, editorView, newEntryView } from "./staff_editor.js";
import { hoursView } from "./staff_hours.js";
import { historyView } from "./staff_history.js";
import { gapsView, reviewsView } from "./staff_gaps.js";
import { refreshDraft, setupDraftBar } from "./staff_draft.js";

const $ = (id) => document.getElementById(id);

const VIEWS = ["login", "entries", "editor", "hours", "history", "gaps", "reviews"];

function pageData() {
  try {
    return JSON.parse($("page-data").textContent);
  } catch (err) {
    return null;  // the server did not fill in the page data: the texts come from the API
  }
}

function showView(name) {
  for (const view of VIEWS) $("view-" + view).hidden = view !== name;
  const loggedIn = name !== "login";
  $("nav").hidden = !loggedIn;
  $("logout").hidden = !loggedIn;
  $("draft-bar").hidden = !loggedIn;
  document.querySelectorAll("#nav a").forEach((link) => {
    const current = link.dataset.view === name || (name === "editor" && link.dataset.view === "entries")
      || (name === "history" && link.dataset.view === "entries");
    if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  });
}

function focusHeading(name) {
  const heading = $("view-" + name).querySelector("h1");
  if (!heading) return;
  heading.setAttribute("tabindex", "-1");
  heading.focus({ preventScroll: false });
}

function updateLangLink() {
  const link = $("lang-link");
  link.setAttribute("href", "?lang=" + otherLang() + location.hash);
  link.setAttribute("lang", otherLang());
}

export function showLogin() {
  showView("login");
  session.me = null;
  $("who").textContent = "";
  $("login-lang").value = lang();
  const params = new URLSearchParams(location.search);
  const problem = params.get("login");
  const error = $("login-error");
  if (problem === "out") say(t("logged_out"));
  if (problem === "failed" || problem === "throttled") {
    const seconds = Math.max(1, parseInt(params.get("seconds") || params.get("wait") || "1", 10) || 1);
    error.textContent = problem === "failed" ? t("login_failed") : t("login_throttled", { seconds });
    error.hidden = false;
    for (const id of ["username", "password"]) {
      $(id).setAttribute("aria-describedby", "login-error");
    }
    $("password").setAttribute("aria-invalid", "true");
    $("password").focus();
  } else {
    $("username").focus();
  }
}

const ROUTES = [
  [/^#\/entry\/(.+)$/, "editor", (m) => editorView(decodeURIComponent(m[1]))],
  [/^#\/new$/, "editor", () => newEntryView()],
  [/^#\/hours$/, "hours", () => hoursView()],
  [/^#\/history\/(.+)$/, "history", (m) => historyView(decodeURIComponent(m[1]))],
  [/^#\/gaps$/, "gaps", () => gapsView()],
  [/^#\/reviews$/, "reviews", () => reviewsView()],
  [/^.*$/, "entries", () => entriesView()],
];

let shownHash = null;  // the hash of the view on screen

/** Leaving an editor with unsaved changes asks first; false: stay (the address is put back). */
function mayLeave(hash) {
  if (shownHash === null || hash === shownHash || !editorDirty()) return true;
  if (window.confirm(t("confirm_leave"))) return true;
  history.replaceState(null, "", shownHash);
  updateLangLink();
  return false;
}

export async function route({ reload = false } = {}) {
  updateLangLink();
  if (!session.me) return;
  const hash = location.hash || "#/entries";
  if (!reload && !mayLeave(hash)) return;
  for (const [pattern, name, open] of ROUTES) {
    const match = hash.match(pattern);
    if (!match) continue;
    shownHash = hash;
    showView(name);
    $("main").setAttribute("aria-busy", "true");
    try {
      await open(match);
    } finally {
      $("main").removeAttribute("aria-busy");
    }
    focusHeading(name);
    return;
  }
}

function roleName(role) {
  return t("role_" + role) || role;
}

async function start() {
  const data = pageData();
  setTexts(data && data.texts ? data.texts : {}, data && data.lang);
  document.documentElement.lang = lang();
  updateLangLink();
  const me = await api("GET", "/staff/api/me", undefined, { quiet401: true });
  if (me.status === 401 || !me.ok) {
    if (!Object.keys(T).length) await loadTexts("/staff/texts");
    showLogin();
    return;
  }
  session.me = me.data;
  setCsrf(me.data.csrf);
  if (!data || !data.texts) await loadTexts();
  $("who").textContent = t("logged_in_as", { user: me.data.user, role: roleName(me.data.role) });
  setupDraftBar();
  await refreshDraft();
  await route();
}

/** The texts from the API (or, before logging in, from the open /staff/texts). */
async function loadTexts(path = "/staff/api/texts") {
  const response = await api("GET", path, undefined, { quiet401: true });
  if (response.ok && response.data && response.data.texts) setTexts(response.data.texts, response.data.lang);
}

$("logout").addEventListener("click", async () => {
  await api("POST", "/staff/logout", {});
  location.assign("/staff/?lang=" + lang());
});
onRedraw(route);
window.addEventListener("hashchange", () => { route(); });
window.addEventListener("beforeunload", (event) => {
  if (session.me && editorDirty()) event.preventDefault();  // the browser asks before unsaved changes are lost
});
window.addEventListener("staff:unauthorized", () => showLogin());

start().catch(() => say(t("error")));
