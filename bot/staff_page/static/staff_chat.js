// The test chat beside the editor: turns of a chat on the DRAFT knowledge (the live one when there
// is no draft) with the clock at the chosen date and time, so the out-of-hours and handoff replies
// for that moment show. Nothing reaches a guardian or the real queue (POST /staff/api/preview).
import { dom, say, t } from "./staff_common.js";
import { api, refusal } from "./staff_api.js";

const $ = (id) => document.getElementById(id);
let sessionId = null;
let wired = false;

function newSession() {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return "preview-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Now, as the value of a datetime-local input ("2026-12-01T10:00"). */
function nowValue() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}T${pad(now.getHours())}:${pad(now.getMinutes())}`;
}

function line(from, text, buttons) {
  const item = dom("li", { class: "from-" + from },
    dom("span", { class: "from", text: t({ user: "chat_you", bot: "chat_bot", system: "chat_note" }[from]) + ":" }), " ",
    dom("span", { class: "text", text }));
  if (buttons && buttons.length) {
    item.append(dom("div", { class: "chat-buttons" }, buttons.map((button) => dom("button", {
      type: "button", class: "secondary small", text: button.label,
      onclick: () => send(null, button.payload, button.label),
    }))));
  }
  $("chat-log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

async function send(text, payload, label) {
  line("user", label || text);
  const body = {
    text: text || "", session: sessionId, at: $("chat-at").value || nowValue(),
    lang: $("chat-lang").value || null, button: payload || null,
  };
  const response = await api("POST", "/staff/api/preview", body);
  if (!response.ok) {
    const problems = (response.data && response.data.problems) || [];
    line("system", problems.length ? problems.map((p) => p.message).join("\n") : refusal(response));
    return;
  }
  for (const message of response.data.messages || []) line("bot", message.text || "", message.buttons);
}

function wire() {
  if (wired) return;
  wired = true;
  $("chat-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("chat-text").value.trim();
    if (!text) return;
    $("chat-text").value = "";
    await send(text);
    $("chat-text").focus();
  });
  $("chat-settings").addEventListener("submit", (event) => event.preventDefault());
  $("chat-restart").addEventListener("click", () => {
    startChat(true);
    say(t("chat_restarted"));
    $("chat-text").focus();
  });
}

/** A fresh test chat (the date and time kept once chosen). */
export function startChat(keepTime = true) {
  wire();
  sessionId = newSession();
  $("chat-log").replaceChildren();
  if (!keepTime || !$("chat-at").value) $("chat-at").value = nowValue();
}
