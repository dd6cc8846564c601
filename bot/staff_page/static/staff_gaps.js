// Unanswered questions (masked as `knowledge gaps` masks them): add one as a phrasing of an entry,
// start a new entry from it, or mark it as handled. And the entries past their review date.
import { clear, dom, formatWhen, say, t } from "./staff_common.js";
import { api, refusal } from "./staff_api.js";
import { allEntries, reviewCell, titleOf } from "./staff_entries.js";
import { refreshDraft } from "./staff_draft.js";
import { startNewFrom } from "./staff_editor.js";

const $ = (id) => document.getElementById(id);
let wired = false;

async function addAsPhrasing(group, entrySelect, langSelect) {
  const entry = entrySelect.value;
  if (!entry) {
    say(t("gap_choose_entry"));
    entrySelect.focus();
    return;
  }
  const response = await api("POST", `/staff/api/gaps/${encodeURIComponent(group.key)}/phrasing`,
    { entry, lang: langSelect.value });
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  say(t("gap_added", { id: entry }));
  await refreshDraft();
}

async function markHandled(group, item) {
  const response = await api("POST", `/staff/api/gaps/${encodeURIComponent(group.key)}/handled`, {});
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  const next = item.nextElementSibling || item.previousElementSibling;
  item.remove();
  say(t("gap_handled"));
  const target = next ? next.querySelector("h2") : $("gaps-heading");
  target.setAttribute("tabindex", "-1");
  target.focus();
}

function gapCard(group, index, entries) {
  const id = "gap-" + index;
  const entrySelect = dom("select", { id: id + "-entry" }, dom("option", { value: "", text: t("gap_choose_entry") }),
    entries.map((entry) => dom("option", { value: entry.id, text: `${titleOf(entry)} (${entry.id})` })));
  const langSelect = dom("select", { id: id + "-lang" },
    dom("option", { value: "sv", text: t("lang_sv") }), dom("option", { value: "en", text: t("lang_en") }));
  const item = dom("li", { class: "card gap", "aria-labelledby": id + "-heading" });
  item.append(
    dom("h2", { id: id + "-heading", class: "gap-example" }, "”", group.example, "”"),
    dom("p", { class: "hint", text: group.last ? t("gap_meta", { count: group.count, last: formatWhen(group.last) })
      : t("gap_meta_count", { count: group.count }) }),
    dom("form", { class: "gap-phrasing", onsubmit: (event) => { event.preventDefault(); addAsPhrasing(group, entrySelect, langSelect); } },
      dom("div", { class: "field grow" }, dom("label", { for: id + "-entry", text: t("gap_entry") }), entrySelect),
      dom("div", { class: "field" }, dom("label", { for: id + "-lang", text: t("gap_lang") }), langSelect),
      dom("button", { type: "submit", text: t("gap_add_phrasing") })),
    dom("div", { class: "row" },
      dom("button", { type: "button", class: "secondary", text: t("gap_new_entry"),
        onclick: () => { startNewFrom(group.example, langSelect.value); location.hash = "#/new"; } }),
      dom("button", { type: "button", class: "secondary", text: t("gap_handled_button"),
        onclick: () => markHandled(group, item) })));
  return item;
}

async function loadGaps() {
  const [response, entries] = await Promise.all([
    api("GET", "/staff/api/gaps?days=" + encodeURIComponent($("gaps-days").value)), allEntries()]);
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  const groups = response.data.groups || [];
  const list = clear($("gaps-list"));
  const sorted = [...entries].sort((a, b) => titleOf(a).localeCompare(titleOf(b), "sv"));
  groups.forEach((group, index) => list.append(gapCard(group, index, sorted)));
  if (!groups.length) list.append(dom("li", { class: "empty", text: t("gaps_none") }));
  say(t("gaps_count", { count: groups.length }));
}

export async function gapsView() {
  if (!wired) {
    wired = true;
    $("gaps-form").addEventListener("submit", (event) => { event.preventDefault(); loadGaps(); });
  }
  await loadGaps();
}

export async function reviewsView() {
  const response = await api("GET", "/staff/api/reviews");
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  const overdue = response.data.overdue || [];
  const rows = overdue.map((entry) => dom("tr", {},
    dom("td", {}, dom("a", { href: "#/entry/" + encodeURIComponent(entry.id), text: entry.id })),
    dom("td", { text: entry.owner || "" }),
    reviewCell({ ...entry, overdue: true })));
  clear($("reviews-body")).append(...rows);
  if (!overdue.length) $("reviews-body").append(dom("tr", {}, dom("td", { colspan: "3", text: t("reviews_none") })));
}
