// The history of one entry: every published version with who and what, the change in words
// (added and removed words marked with signs and words, not by colour alone) and
// "Återställ den här versionen", which publishes that version again.
import { clear, dom, formatWhen, say, t } from "./staff_common.js";
import { api, refusal } from "./staff_api.js";
import { canPublish, refreshDraft } from "./staff_draft.js";

const $ = (id) => document.getElementById(id);
let shown = { entry: null, commit: null, at: null };
let wired = false;

/** "answer.sv" → "Svar (svenska)": the field's name in words, else the field itself. */
function fieldName(name) {
  const [base, ...rest] = String(name).split(".");
  const language = rest.find((part) => part === "sv" || part === "en");
  const words = t("field_" + base) || base;
  return language ? `${words} (${t("lang_" + language)})` : words;
}

function word(part) {
  if (part.op === "added") {
    return dom("ins", { class: "added" }, dom("span", { class: "visually-hidden", text: t("diff_added") + " " }),
      dom("span", { class: "sign", "aria-hidden": "true", text: "+" }), part.text);
  }
  if (part.op === "removed") {
    return dom("del", { class: "removed" }, dom("span", { class: "visually-hidden", text: t("diff_removed") + " " }),
      dom("span", { class: "sign", "aria-hidden": "true", text: "−" }), part.text);
  }
  return document.createTextNode(part.text);
}

function spaced(words) {
  const out = [];
  words.forEach((part, index) => {
    if (index) out.push(document.createTextNode(" "));
    out.push(word(part));
  });
  return out;
}

function drawDiff(diff) {
  const box = clear($("version-diff"));
  if (!diff.length) {
    box.append(dom("p", { text: t("diff_none") }));
    return;
  }
  for (const change of diff) {
    box.append(dom("h3", { text: fieldName(change.field) }), dom("p", { class: "diff" }, spaced(change.words || [])));
  }
}

async function showVersion(version) {
  $("version").hidden = true;  // no restoring the version shown before while this one loads
  const response = await api("GET", `/staff/api/history/${encodeURIComponent(version.commit)}?entry=${encodeURIComponent(shown.entry)}`);
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  shown.commit = version.commit;
  shown.at = version.at;
  $("version").hidden = false;
  $("version-heading").textContent = t("version_heading", { when: formatWhen(version.at), who: version.author || "" });
  $("version-message").textContent = messageOf(version);
  drawDiff(response.data.diff || []);
  const allowed = canPublish();
  $("restore-button").disabled = !allowed;
  $("restore-hint").textContent = allowed ? "" : t("restore_needs_publisher");
  if (allowed) $("restore-button").removeAttribute("aria-describedby");
  else $("restore-button").setAttribute("aria-describedby", "restore-hint");
  $("version-heading").focus();
}

function messageOf(version) {
  return version.first ? t("history_first_version") : version.message || "";
}

function versionRow(version) {
  const when = formatWhen(version.at);
  const changed = (version.changed || []).join(", ");
  return dom("tr", {},
    dom("td", { text: when }),
    dom("td", { text: version.author || "" }),
    dom("td", {}, messageOf(version), changed ? dom("span", { class: "hint block", text: t("changed_list", { ids: changed }) }) : null),
    dom("td", {}, dom("button", { type: "button", class: "secondary small", onclick: () => showVersion(version) },
      t("show_version"), dom("span", { class: "visually-hidden", text: " " + when }))));
}

async function restore() {
  if (!shown.commit || !canPublish()) return;
  const button = $("restore-button");
  button.disabled = true;
  say(t("publishing"));
  const response = await api("POST", `/staff/api/history/${encodeURIComponent(shown.commit)}/restore`, { entry: shown.entry });
  button.disabled = false;
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  say(t("restored", { when: formatWhen(shown.at) }));
  await refreshDraft();
  await loadVersions();
}

async function loadVersions() {
  const response = await api("GET", "/staff/api/history?entry=" + encodeURIComponent(shown.entry));
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  const versions = response.data.versions || [];
  clear($("history-body")).append(...versions.map(versionRow));
  if (!versions.length) $("history-body").append(dom("tr", {}, dom("td", { colspan: "4", text: t("history_none") })));
}

export async function historyView(id) {
  if (!wired) {
    wired = true;
    $("restore-button").addEventListener("click", restore);
  }
  shown = { entry: id, commit: null, at: null };
  $("history-heading").textContent = t("history_heading", { id });
  $("history-back").setAttribute("href", "#/entry/" + encodeURIComponent(id));
  $("version").hidden = true;
  await loadVersions();
}
