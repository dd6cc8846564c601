// Hours: the weekly hours per channel, the exceptions (one date, or a repeating rule "every Friday
// from … to …") and a month calendar of what they give, with the server's warnings (an exception
// that opens a public holiday) next to the exception and on its day.
import { DAYS, clear, dom, field, isoDay, lang, say, t } from "./staff_common.js";
import { api, refusal } from "./staff_api.js";
import { clearProblems, showOutcome, showProblems } from "./staff_problems.js";
import { ListEditor, fieldValue } from "./staff_lists.js";
import { refreshDraft } from "./staff_draft.js";

const $ = (id) => document.getElementById(id);
const NAMES = {
  mon: ["måndag", "monday"], tue: ["tisdag", "tuesday"], wed: ["onsdag", "wednesday"],
  thu: ["torsdag", "thursday"], fri: ["fredag", "friday"], sat: ["lördag", "saturday"], sun: ["söndag", "sunday"],
};
let state = { hours: {}, exceptions: [], warnings: [], holidays: {}, channels: ["phone", "visiting"], list: null, month: null };
let wired = false;

/** The day code ("fri") of a weekday as the file may write it ("fredag", "Friday", "fri"). */
export function dayCode(value) {
  const word = String(value || "").trim().toLowerCase();
  for (const [code, names] of Object.entries(NAMES)) if (word === code || names.includes(word)) return code;
  return null;
}

const input = (attrs) => dom("input", { autocomplete: "off", ...attrs });
const channelName = (channel) => t("channel_" + channel) || channel;

function weeklyTable() {
  const head = dom("tr", {}, dom("th", { scope: "col", text: t("col_day") }),
    state.channels.map((channel) => dom("th", { scope: "col", text: channelName(channel) })));
  const rows = DAYS.map((day) => dom("tr", {}, dom("th", { scope: "row", text: t("day_" + day) }),
    state.channels.map((channel) => {
      const key = `hours.${channel}.${day}`;
      const value = ((state.hours[channel] || {})[day]) || "";
      const cell = field(key, t("hours_cell", { channel: channelName(channel), day: t("day_" + day) }),
        input({ value, spellcheck: "false" }), null, "in-cell");
      cell.querySelector("label").classList.add("visually-hidden");
      return dom("td", {}, cell);
    })));
  return dom("section", { "aria-labelledby": "weekly-heading" },
    dom("h2", { id: "weekly-heading", text: t("weekly_heading") }),
    dom("p", { class: "hint", id: "weekly-hint", text: t("weekly_hint") }),
    dom("div", { class: "table-wrap" }, dom("table", { class: "data hours-table", "aria-describedby": "weekly-hint" },
      dom("caption", { class: "visually-hidden", text: t("weekly_heading") }), dom("thead", {}, head), dom("tbody", {}, rows))));
}

function daySelect(value) {
  const code = dayCode(value) || "fri";
  const select = dom("select", {}, DAYS.map((day) => dom("option", { value: day, text: t("day_" + day) })));
  select.value = code;
  return select;
}

function exceptionFields(item, key, n) {
  const rule = item.rule || null;
  const note = item.note || {};
  const kind = dom("select", {}, dom("option", { value: "date", text: t("kind_date") }),
    dom("option", { value: "rule", text: t("kind_rule") }));
  kind.value = rule ? "rule" : "date";
  const dateGroup = dom("div", { class: "kind-date" },
    field(key + ".date", t("field_date"), input({ type: "date", value: String(item.date || "") })));
  const ruleGroup = dom("div", { class: "kind-rule row" },
    field(key + ".rule.weekday", t("field_weekday"), daySelect(rule && rule.weekday)),
    field(key + ".rule.from", t("field_from"), input({ type: "date", value: String((rule && rule.from) || "") })),
    field(key + ".rule.to", t("field_to"), input({ type: "date", value: String((rule && rule.to) || "") })));
  const toggle = () => { dateGroup.hidden = kind.value !== "date"; ruleGroup.hidden = kind.value !== "rule"; };
  kind.addEventListener("change", toggle);
  toggle();
  return dom("fieldset", { class: "sub exception", dataset: { field: key } },
    dom("legend", { text: t(rule ? "rule_n" : "exception_n", { n }) }),
    dom("p", { class: "problem", id: "p-" + key.replace(/\./g, "-"), hidden: true }),
    dom("p", { class: "field-warning", id: "w-" + key.replace(/\./g, "-"), hidden: true }),
    field(key + ".kind", t("field_kind"), kind), dateGroup, ruleGroup,
    field(key + ".closed", t("field_closed"), input({ type: "checkbox", checked: item.closed === true })),
    dom("div", { class: "row" }, state.channels.map((channel) => field(key + "." + channel,
      channelName(channel), input({ value: item[channel] || "", spellcheck: "false" }), t("exception_hours_hint")))),
    dom("div", { class: "row" },
      field(key + ".note.sv", t("note_sv"), input({ value: note.sv || "", lang: "sv" })),
      field(key + ".note.en", t("note_en"), input({ value: note.en || "", lang: "en" }))),
    field(key + ".open_on_holiday", t("field_open_on_holiday"),
      input({ type: "checkbox", checked: item.open_on_holiday === true }), t("open_on_holiday_hint")));
}

const checked = (key) => Boolean(document.getElementById("f-" + key.replace(/\./g, "-"))?.checked);

function readException(key, original) {
  const out = { ...original };
  for (const name of ["date", "rule", "closed", "open_on_holiday", "note", ...state.channels]) delete out[name];
  if (fieldValue(key + ".kind") === "rule") {
    const was = original.rule || {};
    const chosen = fieldValue(key + ".rule.weekday");
    out.rule = { ...was, weekday: dayCode(was.weekday) === chosen ? was.weekday : chosen,
      from: fieldValue(key + ".rule.from"), to: fieldValue(key + ".rule.to") };
  } else {
    out.date = fieldValue(key + ".date");
  }
  if (checked(key + ".closed")) out.closed = true;
  for (const channel of state.channels) {
    const value = fieldValue(key + "." + channel).trim();
    if (value) out[channel] = value;
  }
  const note = { sv: fieldValue(key + ".note.sv").trim(), en: fieldValue(key + ".note.en").trim() };
  if (note.sv || note.en) out.note = { ...(original.note || {}), ...note };
  if (checked(key + ".open_on_holiday")) out.open_on_holiday = true;
  return out;
}

function exceptionList() {
  return new ListEditor({
    key: "exceptions", legend: t("exceptions_legend"), hint: t("exceptions_hint"), addLabel: t("add_exception"),
    items: state.exceptions, itemName: (n) => t("exception_n", { n }),
    render: exceptionFields, read: readException,
    blank: () => ({ date: "", note: { sv: "", en: "" } }),
  });
}

function readHours() {
  const hours = {};
  for (const channel of state.channels) {
    hours[channel] = {};
    for (const day of DAYS) {
      const value = fieldValue(`hours.${channel}.${day}`).trim();
      if (value) hours[channel][day] = value;
    }
  }
  return { hours, exceptions: state.list.items() };
}

/** The exception (by date, else by rule) that gives `iso` its hours, or null. */
function exceptionOn(iso, exceptions) {
  const dated = exceptions.find((item) => String(item.date || "") === iso);
  if (dated) return dated;
  const code = DAYS[(new Date(iso + "T12:00:00").getDay() + 6) % 7];
  return exceptions.find((item) => item.rule && dayCode(item.rule.weekday) === code
    && String(item.rule.from) <= iso && iso <= String(item.rule.to)) || null;
}

function warnedDays() {
  const days = new Set();
  for (const warning of state.warnings) for (const found of String(warning.message).match(/\d{4}-\d{2}-\d{2}/g) || []) days.add(found);
  return days;
}

function dayCell(day, warned) {
  const iso = isoDay(day);
  const item = exceptionOn(iso, state.exceptions);
  const lines = [];
  const holiday = state.holidays[iso];
  const holidayWins = (holiday || warned.has(iso)) && !(item && item.open_on_holiday === true);
  if (holiday) lines.push(holiday);
  if (holidayWins) lines.push(t("cal_holiday_closed"));
  else if (item && item.closed === true) lines.push(t("cal_closed"));
  else if (item) for (const channel of state.channels) if (item[channel]) lines.push(`${channelName(channel)} ${item[channel]}`);
  if (item && item.note) lines.push(item.note[lang()] || item.note.sv || "");
  const cell = dom("td", { class: (item ? "has-exception" : "") + (holiday ? " holiday" : "") + (warned.has(iso) ? " warned" : "") },
    dom("span", { class: "day-num", text: String(day.getDate()) }),
    lines.map((text) => dom("span", { class: "cal-line", text })));
  if (warned.has(iso)) cell.append(dom("span", { class: "cal-warning" }, dom("span", { "aria-hidden": "true", text: "⚠ " }), t("cal_warning")));
  return cell;
}

function drawCalendar() {
  const month = state.month;
  const locale = lang() === "sv" ? "sv-SE" : "en-GB";
  const caption = month.toLocaleDateString(locale, { month: "long", year: "numeric" });
  const warned = warnedDays();
  const head = dom("tr", {}, DAYS.map((day) => dom("th", { scope: "col" },
    dom("span", { "aria-hidden": "true", text: t("day_" + day).slice(0, 3) }),
    dom("span", { class: "visually-hidden", text: t("day_" + day) }))));
  const rows = [];
  let row = dom("tr", {}, Array.from({ length: (month.getDay() + 6) % 7 }, () => dom("td", { class: "empty" })));
  for (let day = new Date(month); day.getMonth() === month.getMonth(); day.setDate(day.getDate() + 1)) {
    row.append(dayCell(new Date(day), warned));
    if (row.children.length === 7) { rows.push(row); row = dom("tr", {}); }
  }
  if (row.children.length) rows.push(row);
  clear($("calendar-body")).append(dom("div", { class: "table-wrap" }, dom("table", { class: "month" },
    dom("caption", { text: caption }), dom("thead", {}, head), dom("tbody", {}, rows))));
}

function drawWarnings() {
  const box = $("hours-warnings");
  if (!state.warnings.length) { clear(box); box.hidden = true; return; }
  showProblems($("hours-form"), box, state.warnings, t("warnings_heading", { count: state.warnings.length }), { warning: true });
}

function draw(data) {
  state.hours = data.hours || {};
  const known = ["phone", "visiting"];
  state.channels = [...known, ...Object.keys(state.hours).filter((c) => !known.includes(c))];
  state.exceptions = data.exceptions || [];
  state.warnings = data.warnings || [];
  // The public holidays the server names (optional: {date, name}), closed unless an exception opens them.
  state.holidays = Object.fromEntries((data.holidays || []).map((h) => [String(h.date), String(h.name || "")]));
  state.list = exceptionList();
  clear($("hours-fields")).append(weeklyTable(), state.list.node);
  clearProblems($("hours-form"), $("hours-problems"));
  drawWarnings();
  const warned = [...warnedDays()].sort();
  if (warned.length) state.month = new Date(Number(warned[0].slice(0, 4)), Number(warned[0].slice(5, 7)) - 1, 1);
  drawCalendar();
}

async function save(event) {
  event.preventDefault();
  const body = readHours();
  say(t("checking"));
  const response = await api("PUT", "/staff/api/hours", body);
  if (response.ok) {
    const data = response.data && response.data.hours ? response.data : { ...body, warnings: (response.data || {}).warnings };
    draw(data);
    await refreshDraft();
    say(t("hours_saved", { count: state.warnings.length }));
    return;
  }
  const problems = response.status === 422 && response.data && response.data.problems
    ? response.data.problems : [{ field: null, message: refusal(response) }];
  state.exceptions = body.exceptions;
  const count = showOutcome($("hours-form"), $("hours-problems"), $("hours-warnings"), problems);
  say(t("not_saved", { count }));
}

function moveMonth(step) {
  state.exceptions = state.list ? state.list.items() : state.exceptions;
  state.month = new Date(state.month.getFullYear(), state.month.getMonth() + step, 1);
  drawCalendar();
  say(state.month.toLocaleDateString(lang() === "sv" ? "sv-SE" : "en-GB", { month: "long", year: "numeric" }));
}

function wire() {
  if (wired) return;
  wired = true;
  $("hours-form").addEventListener("submit", save);
  $("cal-prev").addEventListener("click", () => moveMonth(-1));
  $("cal-next").addEventListener("click", () => moveMonth(1));
}

export async function hoursView() {
  wire();
  const response = await api("GET", "/staff/api/hours");
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  if (!state.month) state.month = new Date(new Date().getFullYear(), new Date().getMonth(), 1);
  draw(response.data);
}
