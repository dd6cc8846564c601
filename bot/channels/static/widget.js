/* Halmstads kommun: the Skola24 chat widget. One script tag, no framework:
 *   <script src="https://chat.example/widget.js" data-api="https://chat.example" defer></script>
 * Optional: data-lang="sv|en" (else the browser's language). The texts below are filled in by the
 * server from knowledge/texts/widget.yaml when this file is served. */
(function () {
  "use strict";
  var TEXTS = /*TEXTS*/null;
  var script = document.currentScript || document.querySelector("script[src*='widget.js']");
  if (!script || window.__hswLoaded) return;
  window.__hswLoaded = true;
  var API = (script.getAttribute("data-api") || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var KEY = "hsw.";
  var store = {
    get: function (k) { try { return sessionStorage.getItem(KEY + k); } catch (e) { return null; } },
    set: function (k, v) {
      try { if (v == null || v === "") sessionStorage.removeItem(KEY + k); else sessionStorage.setItem(KEY + k, v); } catch (e) { /* storage off */ }
    }
  };
  var nav = (navigator.language || "sv").toLowerCase();
  var lang = store.get("lang") || script.getAttribute("data-lang") || (nav.indexOf("sv") === 0 ? "sv" : "en");
  if (lang !== "sv" && lang !== "en") lang = "sv";
  var session = store.get("session");
  var lastSeq = 0, busy = false, pending = null, needFull = false, unread = 0;
  var ws = null, wsDelay = 1000, wsTimer = null, pollTimer = null, lastHeard = 0, typingTimer = null;
  var T, root, launcher, launcherText, badge, panel, title, langBtn, closeBtn, log, welcome, menuBtn,
    typing, errorBox, errorText, retryBtn, form, label, input, hint, sendBtn, privacy, a11y;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function add(parent) { for (var i = 1; i < arguments.length; i++) parent.appendChild(arguments[i]); return parent; }

  function newSession() {
    var bytes = new Uint8Array(18); /* 144 bits */
    crypto.getRandomValues(bytes);
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  /* Guess a message's language from common words, so screen readers pronounce it right. */
  var SV = " och att du är det som för inte jag har kan med på en ett din ditt vill eller till om hur vad när ", EN = " the and you to is are for not your can with have this of do want or how what when ";
  function guessLang(text) {
    var words = text.toLowerCase().split(/[^a-zåäöé']+/), sv = (text.match(/[åäöÅÄÖ]/g) || []).length, en = 0;
    for (var i = 0; i < words.length; i++) {
      if (!words[i]) continue;
      if (SV.indexOf(" " + words[i] + " ") >= 0) sv++;
      if (EN.indexOf(" " + words[i] + " ") >= 0) en++;
    }
    if (sv >= 2 && sv > 2 * en) return "sv";
    if (en >= 2 && en > 2 * sv) return "en";
    return null;
  }

  /* Put text into `p`, with web and e-mail addresses as links. */
  function fill(p, text) {
    var re = /(https?:\/\/[^\s<>"]+[^\s<>".,;:!?)])|([\w.%+-]+@[\w-]+(?:\.[\w-]+)+)/g, pos = 0, m;
    while ((m = re.exec(text))) {
      p.appendChild(document.createTextNode(text.slice(pos, m.index)));
      add(p, el("a", { href: m[1] ? m[1] : "mailto:" + m[2] }, m[0]));
      pos = re.lastIndex;
    }
    p.appendChild(document.createTextNode(text.slice(pos)));
  }

  function sender(from) { return T["from_" + (from === "user" || from === "agent" || from === "system" ? from : "bot")]; }

  function message(from, text, buttons, isWelcome) {
    var box = el("div", { "class": "hsw-msg hsw-" + from });
    var who = el("span", { "class": "hsw-vh hsw-who", "data-from": from }, sender(from) + ": ");
    var p = add(el("p", { "class": "hsw-text" }), who);
    fill(p, text);
    var l = isWelcome ? null : guessLang(text);
    if (l) p.setAttribute("lang", l);
    add(box, p);
    if (buttons && buttons.length) {
      var row = el("div", { "class": "hsw-buttons" });
      buttons.forEach(function (b) {
        var btn = el("button", { type: "button", "class": "hsw-choice" }, b.label);
        btn.addEventListener("click", function () {
          if (btn.disabled || busy) return;
          send({ button: b.payload }, btn);
        });
        add(row, btn);
      });
      add(box, row);
    }
    return box;
  }

  /* Disable every choice button shown so far: a new input makes them stale. */
  function disableChoices() {
    var all = log.querySelectorAll("button.hsw-choice");
    for (var i = 0; i < all.length; i++) all[i].disabled = true;
  }

  function render(entry) {
    if (entry.from === "user") disableChoices();
    add(log, message(entry.from || "bot", entry.text || "", entry.buttons));
    log.scrollTop = log.scrollHeight;
    if (panel.hidden && (entry.from === "agent" || entry.from === "system")) {
      unread++;
      showBadge();
    }
  }

  function take(entries) {
    (entries || []).forEach(function (m) {
      if (typeof m.seq === "number" && m.seq > lastSeq) { render(m); lastSeq = m.seq; }
    });
  }

  function request(method, path, body) {
    var opts = { method: method, headers: { "Accept": "application/json" }, cache: "no-store" };
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(API + path, opts).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (data) { return { status: r.status, ok: r.ok, data: data }; });
    });
  }

  /* Fetch what the conversation has after the last entry shown (everything when `full`). */
  function sync(full) {
    if (!session) return Promise.resolve();
    full = full || needFull;
    return request("GET", "/api/chat/" + session + "/messages?after=" + (full ? 0 : lastSeq)).then(function (r) {
      if (!r.ok || !r.data) throw new Error("sync " + r.status);
      if (full) {
        /* Restoring the history is not news: keep screen readers from reading it all out. */
        log.setAttribute("aria-live", "off");
        while (log.lastChild !== welcome) log.removeChild(log.lastChild);
        lastSeq = 0;
        needFull = false;
        menuBtn.disabled = false;
      }
      take(r.data.messages);
      if (full) setTimeout(function () { log.setAttribute("aria-live", "polite"); }, 500);
    });
  }

  function setTyping(on) {
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { typing.textContent = T.typing; typing.classList.add("hsw-on"); }, 400);
    else { typing.textContent = ""; typing.classList.remove("hsw-on"); }
  }

  function showError(text, canRetry) {
    errorText.textContent = text;
    retryBtn.hidden = !canRetry;
    errorBox.hidden = false;
  }
  function hideError() {
    var hadFocus = document.activeElement === retryBtn;
    errorBox.hidden = true;
    if (hadFocus) input.focus();
  }

  function saveDraft() { store.set("draft", input.value); }

  /* Send typed text or a pressed button; on any failure keep the text and offer a retry. */
  function send(body, fromButton) {
    if (busy) return;
    if (!session) { session = newSession(); store.set("session", session); }
    busy = true;
    pending = body;
    hideError();
    setTyping(true);
    var payload = { session: session, lang: lang };
    if (body.text != null) payload.text = body.text; else payload.button = body.button;
    request("POST", "/api/chat", payload).then(function (r) {
      if (!r.ok) {
        showError(r.status === 429 && r.data && r.data.error ? r.data.error : T.error_generic, true);
        return;
      }
      pending = null;
      if (body.text != null && input.value.trim() === body.text) { input.value = ""; saveDraft(); }
      if (fromButton && document.activeElement === fromButton) input.focus();
      return sync().catch(function () {
        /* The answer came but the transcript did not: show the answer now, reload it later. */
        render({ from: "user", text: body.text != null ? body.text : (fromButton ? fromButton.textContent : "") });
        (r.data.messages || []).forEach(function (m) { render({ from: "bot", text: m.text, buttons: m.buttons }); });
        needFull = true;
      }).then(connect);
    }, function () {
      showError(T.error_unreachable, true);
    }).then(function () {
      busy = false;
      setTyping(false);
      if (pending && pending.text != null) saveDraft();
    });
  }

  function submitText(ev) {
    if (ev) ev.preventDefault();
    var text = input.value.trim();
    if (!text) { showError(T.empty, false); input.focus(); return; }
    send({ text: text });
  }

  function retry() {
    var again = pending;
    hideError();
    input.focus();
    if (again && again.button) send(again);
    else submitText();
  }

  /* Live updates: a WebSocket that reconnects with backoff; polling while it is down. */
  function connect() {
    if (!session || ws || wsTimer || !window.WebSocket) { if (!window.WebSocket) startPoll(); return; }
    var sock;
    try { sock = new WebSocket(API.replace(/^http/, "ws") + "/api/chat/" + session + "/ws?after=" + lastSeq); }
    catch (e) { startPoll(); return retryLater(); }
    ws = sock;
    sock.onopen = function () { wsDelay = 1000; lastHeard = Date.now(); stopPoll(); if (needFull) sync().catch(function () {}); };
    sock.onmessage = function (ev) {
      lastHeard = Date.now();
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      if (data && data.type === "messages") take(data.messages);
    };
    sock.onclose = function () {
      if (ws === sock) ws = null;
      startPoll();
      retryLater();
    };
  }
  function retryLater() {
    if (wsTimer) return;
    var delay = wsDelay * (0.8 + Math.random() * 0.4);
    wsDelay = Math.min(wsDelay * 2, 30000);
    wsTimer = setTimeout(function () { wsTimer = null; connect(); }, delay);
  }
  function startPoll() {
    if (pollTimer || !session) return;
    pollTimer = setInterval(function () { if (!busy) sync().catch(function () {}); }, 4000);
  }
  function stopPoll() { clearInterval(pollTimer); pollTimer = null; }
  setInterval(function () { /* a silent socket (no ping for 70 s) is dead */
    if (ws && ws.readyState === 1 && Date.now() - lastHeard > 70000) ws.close();
  }, 20000);

  function showBadge() {
    badge.textContent = unread ? " (" + unread + " " + T.new_messages + ")" : "";
    badge.hidden = !unread;
  }

  function open(focus) {
    panel.hidden = false;
    launcher.hidden = true;
    unread = 0;
    showBadge();
    store.set("open", "1");
    log.scrollTop = log.scrollHeight;
    if (focus) input.focus();
  }
  function close() {
    panel.hidden = true;
    launcher.hidden = false;
    store.set("open", "");
    launcher.focus();
  }

  function applyTexts() {
    T = TEXTS[lang];
    var other = lang === "sv" ? "en" : "sv";
    root.setAttribute("lang", lang);
    launcherText.textContent = T.launcher;
    showBadge();
    title.textContent = T.title;
    langBtn.textContent = T.switch_language;
    langBtn.setAttribute("lang", other);
    closeBtn.textContent = T.close;
    closeBtn.setAttribute("aria-label", T.close_label);
    log.setAttribute("aria-label", T.messages_label);
    welcome.querySelector(".hsw-text").lastChild.textContent = T.welcome;
    var whos = log.querySelectorAll(".hsw-who");
    for (var i = 0; i < whos.length; i++) whos[i].textContent = sender(whos[i].getAttribute("data-from")) + ": ";
    menuBtn.textContent = T.show_menu;
    label.textContent = T.input_label;
    hint.textContent = T.input_hint;
    sendBtn.textContent = T.send;
    retryBtn.textContent = T.retry;
    privacy.textContent = T.privacy_link;
    privacy.href = API + "/integritet" + (lang === "en" ? "?lang=en" : "");
    a11y.textContent = T.accessibility_link;
    a11y.href = API + "/tillganglighet" + (lang === "en" ? "?lang=en" : "");
  }

  function build() {
    var css = el("link", { rel: "stylesheet", href: API + "/widget.css" });
    document.head.appendChild(css);
    T = TEXTS[lang];
    root = el("div", { "class": "hsw" });
    launcher = el("button", { type: "button", "class": "hsw-launcher", "aria-controls": "hsw-panel" });
    launcherText = el("span");
    badge = el("span", { "class": "hsw-badge" });
    add(launcher, launcherText, badge);
    panel = el("div", { id: "hsw-panel", "class": "hsw-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "hsw-title" });
    panel.hidden = true;
    title = el("h2", { id: "hsw-title", "class": "hsw-title" });
    langBtn = el("button", { type: "button", "class": "hsw-lang" });
    closeBtn = el("button", { type: "button", "class": "hsw-close" });
    var head = add(el("div", { "class": "hsw-head" }), title, add(el("div", { "class": "hsw-tools" }), langBtn, closeBtn));
    log = el("div", { "class": "hsw-log", role: "log", "aria-live": "polite", tabindex: "0" });
    welcome = message("bot", "", [{ label: "", payload: "cmd:menu" }], true);
    welcome.classList.add("hsw-welcome");
    menuBtn = welcome.querySelector("button");
    add(log, welcome);
    typing = el("div", { "class": "hsw-typing", role: "status" });
    errorText = el("p", { "class": "hsw-error-text" });
    retryBtn = el("button", { type: "button", "class": "hsw-retry" });
    errorBox = add(el("div", { "class": "hsw-error", role: "alert" }), errorText, retryBtn);
    errorBox.hidden = true;
    label = el("label", { "for": "hsw-input", "class": "hsw-label" });
    input = el("input", { id: "hsw-input", type: "text", maxlength: "2000", autocomplete: "off", "aria-describedby": "hsw-hint" });
    hint = el("p", { id: "hsw-hint", "class": "hsw-hint" });
    sendBtn = el("button", { type: "submit", "class": "hsw-send" });
    form = add(el("form", { "class": "hsw-form", novalidate: "" }), label, add(el("div", { "class": "hsw-row" }), input, sendBtn), hint);
    privacy = el("a", { "class": "hsw-link" });
    a11y = el("a", { "class": "hsw-link" });
    var foot = add(el("div", { "class": "hsw-foot" }), privacy, a11y);
    add(panel, head, log, typing, errorBox, form, foot);
    add(root, launcher, panel);
    document.body.appendChild(root);
    applyTexts();

    launcher.addEventListener("click", function () { open(true); });
    closeBtn.addEventListener("click", close);
    panel.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" || ev.key === "Esc") { ev.preventDefault(); close(); }
    });
    form.addEventListener("submit", submitText);
    retryBtn.addEventListener("click", retry);
    input.addEventListener("input", function () { saveDraft(); if (!errorBox.hidden && !busy && !pending) hideError(); });
    langBtn.addEventListener("click", function () {
      lang = lang === "sv" ? "en" : "sv";
      store.set("lang", lang);
      applyTexts();
      if (lastSeq > 0 && !busy) send({ button: "cmd:lang:" + lang });
    });

    input.value = store.get("draft") || "";
    if (store.get("open")) open(false);
    if (session) sync(true).then(connect, function () { needFull = true; startPoll(); retryLater(); });
  }

  function start() {
    if (TEXTS) return build();
    fetch(API + "/widget/texts.json").then(function (r) { return r.json(); }).then(function (t) { TEXTS = t; build(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
