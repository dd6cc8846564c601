// The list of entries: search by words, topic, owner and overdue review, sorted by topic, review
// date or id; an overdue review is marked with a word and a sign, not by colour alone.
import { clear, dom, lang, say, t } from "./staff_common.js";
import { api, refusal } from "./staff_api.js";

const $ = (id) => document.getElementById(id);
let everything = null;  // every entry, unfiltered: the topic and owner choices and the editor's lists
let wired = false;

/** Every entry (loaded once, again after `reload`). */
export async function allEntries(reload = false) {
  if (everything && !reload) return everything;
  const response = await api("GET", "/staff/api/entries");
  if (response.ok) everything = response.data.entries || [];
  return everything || [];
}

export function titleOf(entry) {
  const title = entry.title || {};
  return title[lang()] || title.sv || title.en || entry.id;
}

/** The review date with "försenad"/"overdue" and a sign when it has passed. */
export function reviewCell(entry) {
  if (!entry.overdue) return dom("td", { text: entry.review_by || "" });
  return dom("td", { class: "overdue" }, dom("span", { class: "sign", "aria-hidden": "true", text: "⚠ " }),
    entry.review_by || "", " ", dom("strong", { text: t("overdue") }));
}

function options(select, values, anyLabel) {
  const chosen = select.value;
  clear(select).append(dom("option", { value: "", text: anyLabel }),
    ...values.map((value) => dom("option", { value, text: value })));
  select.value = values.includes(chosen) ? chosen : "";
}

function fillChoices(entries) {
  const unique = (key) => [...new Set(entries.map((e) => e[key]).filter(Boolean))].sort((a, b) => a.localeCompare(b, "sv"));
  options($("search-topic"), unique("topic"), t("any_topic"));
  options($("search-owner"), unique("owner"), t("any_owner"));
}

function sorted(entries) {
  const key = $("search-sort").value || "topic";
  const text = (entry) => String(entry[key] || "") + "\u0000" + entry.id;
  return [...entries].sort((a, b) => text(a).localeCompare(text(b), "sv"));
}

function row(entry) {
  const link = dom("a", { href: "#/entry/" + encodeURIComponent(entry.id), text: titleOf(entry) });
  return dom("tr", {},
    dom("td", {}, link),
    dom("td", {}, dom("code", { text: entry.id })),
    dom("td", { text: entry.topic || "" }),
    dom("td", { text: entry.owner || "" }),
    reviewCell(entry),
    dom("td", { text: entry.draft ? t("in_draft") : "" }));
}

export async function loadEntries() {
  const query = new URLSearchParams();
  for (const name of ["q", "topic", "owner"]) {
    const value = $("search-" + name).value.trim();
    if (value) query.set(name, value);
  }
  if ($("search-overdue").checked) query.set("overdue", "1");
  const response = await api("GET", "/staff/api/entries?" + query.toString());
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  const entries = sorted(response.data.entries || []);
  clear($("entries-body")).append(...entries.map(row));
  if (!entries.length) {
    $("entries-body").append(dom("tr", {}, dom("td", { colspan: "6", text: t("no_entries") })));
  }
  $("entries-count").textContent = t("entries_count", { count: entries.length });
  return entries;
}

function wire() {
  if (wired) return;
  wired = true;
  $("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const entries = await loadEntries();
    if (entries) say(t("entries_count", { count: entries.length }));
  });
  for (const id of ["search-topic", "search-owner", "search-sort", "search-overdue"]) {
    $(id).addEventListener("change", () => { loadEntries(); });
  }
}

export async function entriesView() {
  wire();
  fillChoices(await allEntries(true));
  await loadEntries();
}
