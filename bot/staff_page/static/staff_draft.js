// The draft bar: what the draft changes and who changed it, "Publicera" for those who may publish
// (a publisher, or an editor when the folder needs no review), and discarding the draft.
import { clear, dom, redraw, say, session, t } from "./staff_common.js";
import { api, refusal } from "./staff_api.js";

const $ = (id) => document.getElementById(id);
let changes = [];

export function canPublish() {
  const me = session.me || {};
  if (typeof me.may_publish === "boolean") return me.may_publish;
  if (typeof me.publish_allowed === "boolean") return me.publish_allowed;
  return me.role === "publisher" || me.review_needed === false;
}

function changeLine(change) {
  const name = change.id || change.file || "";
  const what = t("what_" + change.what) || change.what;
  const link = change.id && change.what !== "removed"
    ? dom("a", { href: "#/entry/" + encodeURIComponent(change.id), text: name }) : dom("span", { text: name });
  return dom("li", {}, link, " – ", what);
}

function renderDraft(draft) {
  changes = (draft && draft.changed) || [];
  const by = (draft && draft.by) || [];
  $("draft-summary").textContent = changes.length
    ? t("draft_some", { count: changes.length, users: by.join(", ") }) : t("draft_none");
  clear($("draft-changes")).append(...changes.map(changeLine));
  $("publish-form").hidden = changes.length === 0;
  const allowed = canPublish();
  const button = $("publish-button");
  button.disabled = !allowed || changes.length === 0;
  $("discard-button").disabled = changes.length === 0;
  $("publish-hint").textContent = allowed ? "" : t("publish_needs_review");
  if (allowed) button.removeAttribute("aria-describedby"); else button.setAttribute("aria-describedby", "publish-hint");
  $("publish-message").disabled = !allowed || changes.length === 0;
}

export async function refreshDraft() {
  const response = await api("GET", "/staff/api/draft");
  if (response.ok) renderDraft(response.data);
}

function showPublishProblems(problems) {
  const items = (problems || []).map((problem) => dom("li", { text: problem.message }));
  clear($("draft-changes")).append(...items);
  $("draft-summary").textContent = t("publish_refused", { count: items.length });
}

async function publish(event) {
  event.preventDefault();
  if (!canPublish() || changes.length === 0) return;
  const button = $("publish-button");
  button.disabled = true;
  say(t("publishing"));
  const response = await api("POST", "/staff/api/publish", { message: $("publish-message").value.trim() });
  if (response.ok) {
    $("publish-message").value = "";
    say(t("published", { count: (response.data.changed || []).length }));
    await refreshDraft();
    await redraw({ reload: true });
    return;
  }
  button.disabled = false;
  if (response.status === 422) {
    showPublishProblems(response.data.problems);
    say(t("publish_refused", { count: (response.data.problems || []).length }));
  } else {
    say(refusal(response));
  }
}

async function discard() {
  if (!window.confirm(t("confirm_discard"))) return;
  const response = await api("DELETE", "/staff/api/draft");
  if (!response.ok) {
    say(refusal(response));
    return;
  }
  say(t("discarded"));
  await refreshDraft();
  await redraw({ reload: true });
}

export function setupDraftBar() {
  $("publish-form").addEventListener("submit", publish);
  $("discard-button").addEventListener("click", discard);
}
