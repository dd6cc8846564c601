// The entry editor: the basics (id, file, topic, owner, review date), the phrasings and the answer
// in Swedish and English, links and follow-up buttons. Saving writes the draft; the server's
// problems (422) appear next to the fields they name and nothing is saved.
import { clear, dom, field, say, t } from "./staff_common.js";
import { api, refusal } from "./staff_api.js";
import { clearProblems, showOutcome } from "./staff_problems.js";
import { ListEditor, fieldValue } from "./staff_lists.js";
import { allEntries } from "./staff_entries.js";
import { refreshDraft } from "./staff_draft.js";
import { startChat } from "./staff_chat.js";

const $ = (id) => document.getElementById(id);
const LANGS = ["sv", "en"];
let current = null;  // {original: the entry as loaded, isNew, lists: {name: ListEditor}}
let newFrom = null;  // {text, lang}: a new entry started from an unanswered question
let dirty = false;  // the form has changes not saved to the draft
let wired = false;

/** Start the next new entry with this question as its first phrasing (from the gaps list). */
export function startNewFrom(text, textLang) {
  newFrom = { text, lang: textLang };
}

const input = (attrs) => dom("input", { autocomplete: "off", ...attrs });

function datalist(id, values) {
  return dom("datalist", { id }, values.map((v) => dom("option", { value: v })));
}

function basics(entry, isNew, entries) {
  const unique = (key) => [...new Set(entries.map((e) => e[key]).filter(Boolean))].sort();
  const idInput = input({ value: entry.id || "", readonly: !isNew, spellcheck: "false" });
  const parts = [field("id", t("field_id"), idInput, isNew ? t("id_hint") : null)];
  if (isNew) {
    const files = unique("file");
    const select = dom("select", {}, files.map((f) => dom("option", { value: f, text: f })));
    if (files.includes("app.yaml")) select.value = "app.yaml";
    parts.push(field("file", t("field_file"), select, t("file_hint")));
  } else {
    parts.push(dom("p", { class: "file-line" }, t("field_file") + ": ", dom("code", { text: entry.file || "" })));
  }
  parts.push(
    field("topic", t("field_topic"), input({ value: entry.topic || "", list: "topics" })),
    datalist("topics", unique("topic")),
    field("owner", t("field_owner"), input({ value: entry.owner || "", list: "owners" })),
    datalist("owners", unique("owner")),
    field("review_by", t("field_review_by"), input({ type: "date", value: String(entry.review_by || "") }),
      t("review_by_hint")));
  return dom("fieldset", { class: "basics" }, dom("legend", { text: t("basics") }), parts);
}

function phrasingList(entry, language) {
  const items = [...((entry.phrasings || {})[language] || [])];
  return new ListEditor({
    key: "phrasings." + language, legend: t("phrasings_" + language), hint: t("phrasings_hint"),
    addLabel: t("add_phrasing_" + language), items,
    itemName: (n) => t("phrasing_n", { n }),
    render: (text, key, n) => field(key, t("phrasing_n", { n }), input({ value: text, lang: language })),
    read: (key) => fieldValue(key),
    blank: () => "",
  });
}

function labelled(key, item, n, nameKey, targetKey, targetLabel) {
  const label = typeof item.label === "string" ? { sv: item.label, en: item.label } : (item.label || {});
  return dom("fieldset", { class: "sub", dataset: { field: key } },
    dom("legend", { text: t(nameKey, { n }) }),
    dom("p", { class: "problem", id: "p-" + key.replace(/\./g, "-"), hidden: true }),
    field(key + ".label.sv", t("label_sv"), input({ value: label.sv || "", lang: "sv" })),
    field(key + ".label.en", t("label_en"), input({ value: label.en || "", lang: "en" })),
    field(key + "." + targetKey, targetLabel, input({ value: item[targetKey] || "", spellcheck: "false" }),
      targetKey === "payload" ? t("payload_hint") : null));
}

function readLabelled(key, original, targetKey) {
  return { ...original, label: { sv: fieldValue(key + ".label.sv"), en: fieldValue(key + ".label.en") },
    [targetKey]: fieldValue(key + "." + targetKey).trim() };
}

function linkList(entry, key, targetKey) {
  const one = key === "links" ? "link_n" : "button_n";
  return new ListEditor({
    key, legend: t(key + "_legend"), hint: t(key + "_hint"), addLabel: t("add_" + one.replace("_n", "")),
    items: entry[key] || [], itemName: (n) => t(one, { n }),
    render: (item, itemKey, n) => labelled(itemKey, item, n, one, targetKey, t("field_" + targetKey)),
    read: (itemKey, original) => readLabelled(itemKey, original, targetKey),
    blank: () => ({ label: { sv: "", en: "" }, [targetKey]: "" }),
  });
}

function answers(entry) {
  const answer = entry.answer || {};
  return dom("fieldset", { class: "answers", dataset: { field: "answer" } },
    dom("legend", { text: t("answer_legend") }),
    dom("p", { class: "hint", text: t("answer_hint") }),
    dom("p", { class: "problem", id: "p-answer", hidden: true }),
    LANGS.map((language) => field("answer." + language, t("answer_" + language),
      dom("textarea", { rows: "5", lang: language, value: typeof answer === "object" ? answer[language] || "" : "" }))));
}

function render(entry, isNew, entries) {
  const lists = {
    sv: phrasingList(entry, "sv"), en: phrasingList(entry, "en"),
    links: linkList(entry, "links", "url"), buttons: linkList(entry, "buttons", "payload"),
  };
  current = { original: entry, isNew, lists };
  clear($("entry-fields")).append(basics(entry, isNew, entries), lists.sv.node, lists.en.node, answers(entry),
    lists.links.node, lists.buttons.node);
  clearProblems($("entry-form"), $("entry-problems"));
  $("entry-warnings").hidden = true;
  dirty = false;
}

/** Whether the editor on screen has changes that are not saved to the draft. */
export function editorDirty() {
  return !$("view-editor").hidden && dirty;
}

/** Drop empty items at the end of a list (those in the middle stay, so problems keep their place). */
function trimEnd(items, empty) {
  const out = [...items];
  while (out.length && empty(out[out.length - 1])) out.pop();
  return out;
}

function setOrDrop(entry, key, value, had) {
  if (value || had) entry[key] = value; else delete entry[key];
}

/** The entry as the form has it now: the original with the edited fields (every other key kept). */
function readEntry() {
  const { original, lists, isNew } = current;
  const entry = JSON.parse(JSON.stringify(original));
  if (isNew) entry.id = fieldValue("id").trim();
  for (const key of ["topic", "owner", "review_by"]) setOrDrop(entry, key, fieldValue(key).trim(), key in original);
  entry.phrasings = { ...(original.phrasings || {}) };
  for (const language of LANGS) entry.phrasings[language] = trimEnd(lists[language].items(), (p) => !p.trim());
  const answer = { sv: fieldValue("answer.sv"), en: fieldValue("answer.en") };
  if (answer.sv.trim() || answer.en.trim() || "answer" in original) {
    entry.answer = { ...(typeof original.answer === "object" ? original.answer : {}), ...answer };
  }
  const blankLink = (item) => !item.label.sv.trim() && !item.label.en.trim() && !(item.url || item.payload);
  for (const key of ["links", "buttons"]) {
    const items = trimEnd(lists[key].items(), blankLink);
    if (items.length || key in original) entry[key] = items; else delete entry[key];
  }
  delete entry.file;
  return entry;
}

async function save(event) {
  event.preventDefault();
  const entry = readEntry();
  const id = current.isNew ? entry.id : current.original.id;
  say(t("checking"));
  const response = current.isNew
    ? await api("POST", "/staff/api/entries", { entry, file: fieldValue("file") })
    : await api("PUT", "/staff/api/entries/" + encodeURIComponent(id), { entry });
  const form = $("entry-form");
  if (response.ok) {
    showOutcome(form, $("entry-problems"), $("entry-warnings"), (response.data && response.data.warnings) || [],
      { onlyPlaced: true });
    dirty = false;
    say(t("saved_draft", { id }));
    await refreshDraft();
    if (current.isNew) {
      current.isNew = false;
      location.hash = "#/entry/" + encodeURIComponent(id);
    } else if (response.data && response.data.entry) {
      current.original = { file: current.original.file, ...response.data.entry };
    }
    return;
  }
  const problems = response.status === 422 && response.data && response.data.problems
    ? response.data.problems : [{ field: null, message: refusal(response) }];
  const count = showOutcome(form, $("entry-problems"), $("entry-warnings"), problems, { onlyPlaced: true });
  say(t("not_saved", { count }));
}

async function remove() {
  if (current.isNew || !window.confirm(t("confirm_delete", { id: current.original.id }))) return;
  const response = await api("DELETE", "/staff/api/entries/" + encodeURIComponent(current.original.id));
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  dirty = false;
  say(t("deleted_draft", { id: current.original.id }));
  await refreshDraft();
  location.hash = "#/entries";
}

function wire() {
  if (wired) return;
  wired = true;
  $("entry-form").addEventListener("submit", save);
  $("entry-form").addEventListener("input", () => { dirty = true; });
  $("entry-fields").addEventListener("click", (event) => {
    if (event.target.closest("button")) dirty = true;  // an item added or removed
  });
  $("delete-entry").addEventListener("click", remove);
}

export async function editorView(id) {
  wire();
  const [response, entries] = await Promise.all([
    api("GET", "/staff/api/entries/" + encodeURIComponent(id)), allEntries()]);
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  $("editor-heading").textContent = t("edit_heading", { id });
  $("entry-history-link").hidden = false;
  $("entry-history-link").setAttribute("href", "#/history/" + encodeURIComponent(id));
  $("delete-entry").hidden = false;
  render(response.data.entry, false, entries);
  startChat();
}

export async function newEntryView() {
  wire();
  const entries = await allEntries();
  const from = newFrom;
  newFrom = null;
  const phrasings = { sv: ["", "", "", "", ""], en: ["", "", "", "", ""] };
  if (from) phrasings[from.lang === "en" ? "en" : "sv"][0] = from.text;
  $("editor-heading").textContent = t("new_heading");
  $("entry-history-link").hidden = true;
  $("delete-entry").hidden = true;
  render({ id: "", phrasings, answer: { sv: "", en: "" } }, true, entries);
  startChat();
}
