// The server's problems (422) and warnings next to the fields they name: the message below the
// field, aria-invalid and aria-describedby on its control, a summary at the top of the form with a
// link to each field, and the focus on the first field with a problem.
import { clear, dom, fieldId, t } from "./staff_common.js";

const CONTROLS = "input:not([type=hidden]), select, textarea";

/** The field wrapper (data-field) that best matches `name`: itself, else its nearest parent field. */
function wrapperFor(form, name) {
  let key = name;
  while (key) {
    const found = form.querySelector(`[data-field="${CSS.escape(key)}"]`);
    if (found) return found;
    key = key.includes(".") ? key.slice(0, key.lastIndexOf(".")) : "";
  }
  return null;
}

function describe(control, id) {
  if (control.dataset.describedBase === undefined) {
    control.dataset.describedBase = control.getAttribute("aria-describedby") || "";
  }
  const ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!ids.includes(id)) ids.push(id);
  control.setAttribute("aria-describedby", ids.join(" "));
}

export function clearProblems(form, box) {
  form.querySelectorAll("[aria-invalid]").forEach((node) => node.removeAttribute("aria-invalid"));
  form.querySelectorAll(".problem, .field-warning").forEach((node) => {
    node.textContent = "";
    node.hidden = true;
  });
  form.querySelectorAll("[data-described-base]").forEach((node) => {
    const base = node.dataset.describedBase;
    if (base) node.setAttribute("aria-describedby", base); else node.removeAttribute("aria-describedby");
    delete node.dataset.describedBase;
  });
  if (box) {
    clear(box);
    box.hidden = true;
  }
}

/** A message without the "path:line: " and "varning: " the check prints first (the field shows where). */
function plain(message) {
  return String(message).replace(/^\S+:\d+:\s*/, "").replace(/^(varning|warning):\s*/i, "");
}

/** Put one message next to its field; return the field's control (or null when no field matched). */
function place(form, item, warning) {
  const wrapper = item.field ? wrapperFor(form, String(item.field)) : null;
  if (!wrapper) return null;
  const note = wrapper.querySelector(warning ? ":scope > .field-warning" : ":scope > .problem")
    || wrapper.appendChild(dom("p", { class: warning ? "field-warning" : "problem",
      id: fieldId(wrapper.dataset.field, warning ? "w" : "p") }));
  const prefix = warning ? t("warning_prefix") : t("problem_prefix");
  const line = dom("span", { class: "note-line" }, dom("span", { class: "marker", text: prefix }), " ", plain(item.message));
  if (note.childNodes.length) note.append(dom("br"));
  note.append(line);
  note.hidden = false;
  const control = wrapper.matches(CONTROLS) ? wrapper : wrapper.querySelector(CONTROLS);
  if (control) {
    if (!warning) control.setAttribute("aria-invalid", "true");
    describe(control, note.id);
  }
  return control;
}

function summaryItem(item, control) {
  if (!control) return dom("li", { text: item.message });  // about another file: its path helps
  return dom("li", {}, dom("a", {
    href: "#" + control.id, text: plain(item.message),
    onclick: (event) => { event.preventDefault(); control.focus(); },
  }));
}

/**
 * Show `items` ({field, line, message}) in `form` and in the summary `box`; `heading` is the
 * summary's heading text. Problems focus the first field that has one; warnings do not move the focus.
 */
export function showProblems(form, box, items, heading, { warning = false } = {}) {
  if (!warning) clearProblems(form, box);
  const listed = [];
  let first = null;
  for (const item of items) {
    const control = place(form, item, warning);
    listed.push(summaryItem(item, control));
    if (control && !warning && (!first || (first.compareDocumentPosition(control) & Node.DOCUMENT_POSITION_PRECEDING))) {
      first = control;
    }
  }
  if (box) {
    const headingId = box.id + "-heading";
    clear(box);
    box.append(dom("h2", { id: headingId, text: heading }), dom("ul", {}, listed));
    box.setAttribute("role", "group");
    box.setAttribute("aria-labelledby", headingId);
    box.hidden = items.length === 0;
  }
  if (!warning) (first || box).focus();
}

/**
 * Show what a save answered: its errors (422; `severity` "error" or none) and its warnings
 * (`severity` "warning"). `onlyPlaced`: leave out warnings that name no field of this form (the
 * check reports the whole folder; the editor shows only what is about the entry).
 */
export function showOutcome(form, errorBox, warningBox, problems, { onlyPlaced = false } = {}) {
  const errors = problems.filter((item) => item.severity !== "warning");
  let warnings = problems.filter((item) => item.severity === "warning");
  if (onlyPlaced) warnings = warnings.filter((item) => item.field && wrapperFor(form, String(item.field)));
  if (errors.length) showProblems(form, errorBox, errors, t("problems_heading", { count: errors.length }));
  else clearProblems(form, errorBox);
  if (warningBox) {
    clear(warningBox);
    warningBox.hidden = true;
    if (warnings.length) {
      showProblems(form, warningBox, warnings, t("warnings_heading", { count: warnings.length }), { warning: true });
    }
  }
  return errors.length;
}
