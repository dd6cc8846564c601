// The agent console: several chats at once, the live queue with alerts and wait times that move,
// left messages and calls to make, one conversation with its tools (reply, canned answers,
// transfer, internal notes, hand back, close). Shared parts are in agent.js (window.AgentPage).
"use strict";
(function () {
  var P = window.AgentPage;
  var T = P.T, LANG = P.LANG, $ = P.$, t = P.t, api = P.api;
  var BASE_TITLE = document.title;
  var selected = null;        // id of the item shown
  var current = null;         // the item shown, as the API gave it
  var me = null;
  var socket = null;
  var pollTimer = null;
  var cannedFor = null;
  var cannedAnswers = [];
  var queue = null;           // the last queue answer
  var clockOffset = 0;        // server time minus this browser's time, in ms
  var knownWaiting = null;    // ids of the waiting guardians already alerted for
  var knownUnread = {};       // id -> unread count already alerted for
  var typingTimer = null;
  var lastTypingSent = 0;

  // Alerts: sound (can be turned off), desktop notification when hidden, title count, live region ------

  var soundOn = window.localStorage && window.localStorage.getItem("halmstad-agent-sound") !== "off";
  $("sound").checked = soundOn;
  $("sound").addEventListener("change", function () {
    soundOn = $("sound").checked;
    try { window.localStorage.setItem("halmstad-agent-sound", soundOn ? "on" : "off"); } catch (e) { /* private mode */ }
  });

  var audio = null;
  function beep() {
    if (!soundOn) { return; }
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      audio = audio || new Context();
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.08;
      tone.connect(gain);
      gain.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.15);
    } catch (e) { /* no sound is no reason to fail */ }
  }

  function showNotifyButton() {
    var can = "Notification" in window && window.Notification.permission === "default";
    $("notify").hidden = !can;
  }
  $("notify").addEventListener("click", function () {
    window.Notification.requestPermission().then(showNotifyButton, showNotifyButton);
  });
  showNotifyButton();

  function notifyDesktop(text) {
    if (!document.hidden || !("Notification" in window) || window.Notification.permission !== "granted") { return; }
    try { new window.Notification(T.title, {body: text, tag: "halmstad-agent"}); } catch (e) { /* not allowed here */ }
  }

  function announce(text) {
    var el = $("announcer");
    el.textContent = "";
    window.setTimeout(function () { el.textContent = text; }, 50);
  }

  function announceQueue(text) {
    var el = $("queue-announcer");
    el.textContent = "";
    window.setTimeout(function () { el.textContent = text; }, 50);
  }

  function alertAgent(text) {
    announceQueue(text);
    beep();
    notifyDesktop(text);
  }

  function updateTitle(body) {
    var unread = body.assigned.filter(function (i) {
      return i.mine && i.unread > 0 && (document.hidden || i.id !== selected);
    }).length;
    var count = body.waiting.length + unread;
    document.title = count ? "(" + count + ") " + BASE_TITLE : BASE_TITLE;
  }

  function checkAlerts(body) {
    var waitingNow = {};
    body.waiting.forEach(function (i) { waitingNow[i.id] = true; });
    if (knownWaiting !== null) {
      var fresh = body.waiting.filter(function (i) { return !knownWaiting[i.id]; });
      if (fresh.length) { alertAgent(t("announce_waiting", {count: body.waiting.length})); }
      body.assigned.forEach(function (i) {
        if (i.mine && i.unread > (knownUnread[i.id] || 0) && (document.hidden || i.id !== selected)) {
          alertAgent(t("announce_unread", {name: P.nameOf(i)}));
        }
      });
    }
    knownWaiting = waitingNow;
    knownUnread = {};
    body.assigned.forEach(function (i) { knownUnread[i.id] = i.unread; });
    updateTitle(body);
  }

  // The queue: cards ----------------------------------------------------------------------------

  function waitedText(item) {
    var minutes = Math.max(0, Math.floor((Date.now() + clockOffset - item.queued_ms) / 60000));
    return t("waited", {minutes: minutes});
  }

  function line(className, parts) {
    var p = document.createElement("p");
    p.className = className;
    p.textContent = parts.filter(function (x) { return x; }).join(" · ");
    return p;
  }

  function cardTitle(item) {
    if (item.kind === "conversation" && item.guardian_left) {
      return [P.nameOf(item), item.about, T.guardian_ended];
    }
    return [P.nameOf(item), item.about || T.topic_unknown];
  }

  function lastLine(item) {
    var p = document.createElement("p");
    p.className = "card-last";
    var who = document.createElement("span");
    who.className = "from";
    who.textContent = (T["from_" + item.last.from] || item.last.from) + ":";
    var text = document.createElement("span");
    text.textContent = " " + item.last.text + " ";
    var at = document.createElement("span");
    at.className = "at";
    at.textContent = P.when(item.last.at, false);
    p.appendChild(who);
    p.appendChild(text);
    p.appendChild(at);
    return p;
  }

  function cardMeta(item) {
    var parts = [];
    if (item.kind === "conversation") {
      if (item.status === "assigned" && !item.mine) { parts.push(t("assigned_item", {agent: item.agent_name || item.agent})); }
      parts.push(P.labelOf("channel_", item.channel), P.labelOf("lang_", item.lang));
    } else {
      parts.push(P.when(item.created_at, true));
    }
    return line("card-meta", parts);
  }

  function button(label, aria, key, onClick, secondary) {
    var b = document.createElement("button");
    b.type = "button";
    if (secondary) { b.className = "secondary"; }
    b.textContent = label;
    b.setAttribute("aria-label", aria);
    b.dataset.key = key;
    b.addEventListener("click", onClick);
    return b;
  }

  function card(item) {
    var li = document.createElement("li");
    li.dataset.id = item.id;
    var unread = item.mine && item.unread > 0 && item.id !== selected;
    li.className = (item.id === selected ? "selected " : "") + (unread ? "unread" : "");
    var title = cardTitle(item);
    li.appendChild(line("card-title", title));
    li.appendChild(cardMeta(item));
    if (item.status === "waiting") {
      var waited = line("card-wait", [waitedText(item)]);
      waited.dataset.queued = String(item.queued_ms);
      li.appendChild(waited);
    }
    if (item.last) { li.appendChild(lastLine(item)); }
    var aria = title.filter(function (x) { return x; }).join(", ");
    if (unread) {
      var words = t(item.unread === 1 ? "unread_one" : "unread", {count: item.unread});
      li.appendChild(line("badge", [words]));
      aria += ", " + words;
    }
    var row = document.createElement("div");
    row.className = "row";
    row.appendChild(button(T.open, T.open + ": " + aria, "open:" + item.id, function () { openItem(item.id, true); }, true));
    if (item.kind === "conversation" && item.status === "waiting") {
      row.appendChild(button(T.accept, T.accept + ": " + aria, "accept:" + item.id, function () { acceptItem(item.id); }));
    }
    li.appendChild(row);
    return li;
  }

  function renderList(listId, items, emptyKey) {
    var list = $(listId);
    list.textContent = "";
    if (!items.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = T[emptyKey];
      list.appendChild(empty);
      return;
    }
    items.forEach(function (item) { list.appendChild(card(item)); });
  }

  function renderQueue(body) {
    var focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
    var mine = body.assigned.filter(function (i) { return i.mine; });
    var others = body.assigned.filter(function (i) { return !i.mine; });
    renderList("mine-list", mine, "none_mine");
    renderList("waiting-list", body.waiting, "none_waiting");
    renderList("assigned-list", others, "none_assigned");
    renderList("messages-list", body.messages, "none_messages");
    renderList("callbacks-list", body.callbacks || [], "none_callbacks");
    if (focused) {
      var again = document.querySelector('[data-key="' + focused.replace(/"/g, "") + '"]');
      if (again) { again.focus(); }
    }
  }

  // Wait times move every minute without any event (issue 15, item 3): checked every ten seconds,
  // so a minute shows at most ten seconds late whenever the queue was last fetched.
  function tickWaits() {
    if (!queue) { return; }
    document.querySelectorAll(".card-wait[data-queued]").forEach(function (p) {
      p.textContent = waitedText({queued_ms: Number(p.dataset.queued)});
    });
  }
  window.setInterval(tickWaits, 10000);

  function refreshQueue() {
    return api("GET", "/agent/api/queue").then(function (r) {
      if (!r.ok) { return; }
      queue = r.body;
      clockOffset = r.body.now_ms - Date.now();
      me = r.body.agent;
      $("who").textContent = t("logged_in_as", {agent: me.display_name});
      $("available").checked = !!me.available;
      renderQueue(r.body);
      checkAlerts(r.body);
    }).catch(function () {});
  }

  // One conversation, message or call ------------------------------------------------------------

  function renderMessage(item) {
    var fields = $("message-fields");
    fields.textContent = "";
    P.addField(fields, "message_name", item.message.name);
    P.addField(fields, "message_contact", item.message.contact);
    P.addField(fields, "message_text", item.message.text);
    P.addField(fields, "message_received", P.when(item.created_at, true));
    $("mark-done").hidden = item.status !== "open";
    $("call-back").hidden = item.status !== "open" || item.message.contact_kind !== "phone";
  }

  function renderCallback(item) {
    var fields = $("callback-fields-view");
    var cb = item.callback;
    fields.textContent = "";
    P.addField(fields, "message_name", cb.name);
    P.addField(fields, "message_contact", cb.contact);
    P.addField(fields, "callback_note", cb.note);
    P.addField(fields, "callback_source", cb.source_reference);
    P.addField(fields, "callback_result", cb.result ? P.labelOf("result_call_", cb.result) : null);
    $("callback-done-form").hidden = item.status !== "open";
  }

  function render(item) {
    current = item;
    $("placeholder").hidden = true;
    $("detail").hidden = false;
    var isChat = item.kind === "conversation";
    P.renderContext($("context"), item);
    $("message-view").hidden = item.kind !== "message";
    if (item.kind === "message") { renderMessage(item); }
    $("callback-view").hidden = item.kind !== "callback";
    if (item.kind === "callback") { renderCallback(item); }
    var notice = $("notice");
    var left = isChat && item.guardian_left && item.status === "assigned";
    notice.hidden = !left;
    notice.textContent = left ? T.guardian_left : "";
    P.renderTranscript($("transcript"), item.transcript || []);
    P.renderNotes($("notes"), item.notes);
    var mine = isChat && item.status === "assigned" && item.mine;
    $("accept").hidden = !isChat || item.status !== "waiting";
    $("reply-form").hidden = !mine || item.guardian_left;
    $("tools").hidden = !mine || item.guardian_left;
    $("close-form").hidden = !mine;
    if (mine) { loadCanned(item.context.language || "sv"); loadAgents(); }
    if (mine && !$("callback-name").value && item.given_name) { $("callback-name").value = item.given_name; }
  }

  function openItem(id, focus) {
    if (id !== selected) { $("typing").textContent = ""; }
    selected = id;
    return api("GET", "/agent/api/conversations/" + encodeURIComponent(id)).then(function (r) {
      if (!r.ok) { announce(T.error); return; }
      render(r.body);
      document.querySelectorAll(".items li").forEach(function (li) {
        if (li.dataset.id) { li.classList.toggle("selected", li.dataset.id === id); }
        if (li.dataset.id === id) { li.classList.remove("unread"); var b = li.querySelector(".badge"); if (b) { b.remove(); } }
      });
      if (focus) { $("conversation").focus(); }
      if (queue) {  // read now: no longer counted in the title
        knownUnread[id] = 0;
        queue.assigned.forEach(function (i) { if (i.id === id) { i.unread = 0; } });
        updateTitle(queue);
      }
    }).catch(function () {});
  }

  function acceptItem(id) {
    api("POST", "/agent/api/conversations/" + encodeURIComponent(id) + "/accept").then(function (r) {
      if (r.status === 409) { announce(T.taken); refreshQueue(); return; }
      if (!r.ok) { announce(T.error); return; }
      refreshQueue();
      openItem(id, false).then(function () { $("reply").focus(); });
    }).catch(function () {});
  }

  $("accept").addEventListener("click", function () { if (current) { acceptItem(current.id); } });

  // POST an action on the item shown; when it works, announce `doneText` (if any) with a fresh
  // queue, and show the item again. Resolves to whether it worked.
  function act(kind, action, body, doneText) {
    var path = "/agent/api/" + kind + "/" + encodeURIComponent(current.id) + "/" + action;
    return api("POST", path, body).then(function (r) {
      if (!r.ok) { announce(r.body.error || T.error); return false; }
      if (doneText) { announce(doneText); refreshQueue(); }
      openItem(current.id, false);
      return true;
    }).catch(function () { return false; });
  }

  // Reply, Ctrl+Enter, canned answers --------------------------------------------------------------

  $("reply-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("reply").value.trim();
    if (!text || !current) { return; }
    $("send").disabled = true;
    act("conversations", "messages", {text: text}).then(function (sent) {
      if (sent) { $("reply").value = ""; }
      $("send").disabled = false;
      $("reply").focus();
    });
  });

  $("reply").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      $("reply-form").requestSubmit();
    }
  });

  $("reply").addEventListener("input", function () {
    if (!current || Date.now() - lastTypingSent < 3000) { return; }
    lastTypingSent = Date.now();
    api("POST", "/agent/api/conversations/" + encodeURIComponent(current.id) + "/typing").catch(function () {});
  });

  function fold(text) {
    return text.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "");
  }

  function loadCanned(lang) {
    if (cannedFor === lang) { return; }
    cannedFor = lang;
    api("GET", "/agent/api/canned?lang=" + encodeURIComponent(lang)).then(function (r) {
      cannedAnswers = r.ok ? r.body.answers : [];
      cannedAnswers.forEach(function (a) { a.folded = fold(a.title + " " + a.topic_words + " " + a.text); });
      showCanned();
    });
  }

  function insertCanned(answer) {
    var reply = $("reply");
    reply.value = reply.value ? reply.value + "\n\n" + answer.text : answer.text;
    $("canned-search").value = "";
    showCanned();
    reply.focus();
  }

  function cannedMatches() {
    var words = fold($("canned-search").value).split(/\s+/).filter(function (w) { return w; });
    if (!words.length) { return []; }
    return cannedAnswers.filter(function (a) {
      return words.every(function (w) { return a.folded.indexOf(w) >= 0; });
    }).slice(0, 8);
  }

  // The matches, grouped by topic (headings), each a button that puts the answer in the reply.
  function showCanned() {
    var box = $("canned-results");
    var found = cannedMatches();
    box.textContent = "";
    $("canned-count").textContent = $("canned-search").value.trim() ? t("canned_found", {count: found.length}) : "";
    var groups = {};
    var order = [];
    found.forEach(function (a) {
      if (!groups[a.topic_words]) { groups[a.topic_words] = []; order.push(a.topic_words); }
      groups[a.topic_words].push(a);
    });
    order.forEach(function (topic) {
      var heading = document.createElement("h4");
      heading.textContent = topic || T.topic_unknown;
      var list = document.createElement("ul");
      groups[topic].forEach(function (answer) {
        var li = document.createElement("li");
        var pick = document.createElement("button");
        pick.type = "button";
        pick.className = "secondary canned-pick";
        pick.textContent = answer.title;
        pick.addEventListener("click", function () { insertCanned(answer); });
        li.appendChild(pick);
        list.appendChild(li);
      });
      box.appendChild(heading);
      box.appendChild(list);
    });
  }

  $("canned-search").addEventListener("input", showCanned);
  $("canned-search").addEventListener("keydown", function (event) {
    if (event.key !== "Enter") { return; }
    event.preventDefault();  // Enter here picks the first match, it does not send the reply
    var found = cannedMatches();
    if (found.length) { insertCanned(found[0]); }
  });

  // Transfer, hand back, notes, close (with a callback), left messages and calls -----------------------

  function loadAgents() {
    api("GET", "/agent/api/agents").then(function (r) {
      var select = $("transfer-to");
      var chosen = select.value;
      select.textContent = "";
      var agents = r.ok ? r.body.agents : [];
      if (!agents.length) {
        var none = document.createElement("option");
        none.value = "";
        none.textContent = T.transfer_nobody;
        select.appendChild(none);
      }
      agents.forEach(function (agent) {
        var option = document.createElement("option");
        option.value = agent.username;
        option.textContent = agent.display_name;
        select.appendChild(option);
      });
      if (chosen) { select.value = chosen; }
      $("transfer").disabled = !agents.length;
    }).catch(function () {});
  }

  $("transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var to = $("transfer-to").value;
    if (!current || !to) { return; }
    act("conversations", "transfer", {to: to, note: $("transfer-note").value}, T.transfer_done).then(function (ok) {
      if (ok) { $("transfer-note").value = ""; }
    });
  });

  $("handback").addEventListener("click", function () {
    if (current) { act("conversations", "handback", {}, T.handback_done); }
  });

  $("note-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = $("note").value.trim();
    if (!current || !text) { return; }
    act("conversations", "notes", {text: text}, T.note_saved).then(function (ok) {
      if (ok) { $("note").value = ""; }
    });
  });

  $("outcome").addEventListener("change", function () {
    $("callback-fields").hidden = $("outcome").value !== "callback";
  });

  $("close-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current) { return; }
    var body = {outcome: $("outcome").value};
    if (body.outcome === "callback") {
      body.callback = {contact: $("callback-contact").value, name: $("callback-name").value,
                       note: $("callback-note").value};
    }
    var done = body.outcome === "callback" ? T.callback_added : T.closed_done;
    act("conversations", "close", body, done).then(function (ok) {
      if (!ok) { return; }
      ["callback-contact", "callback-name", "callback-note"].forEach(function (id) { $(id).value = ""; });
      $("outcome").value = "resolved";
      $("callback-fields").hidden = true;
    });
  });

  $("mark-done").addEventListener("click", function () {
    if (current) { act("left-messages", "done", {}, T.status_done); }
  });

  $("call-back").addEventListener("click", function () {
    if (current) { act("left-messages", "callback", {}, T.callback_added); }
  });

  $("callback-done-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!current) { return; }
    act("callbacks", "done", {result: $("callback-result").value, note: $("callback-result-note").value},
        T.callback_marked_done).then(function (ok) { if (ok) { $("callback-result-note").value = ""; } });
  });

  $("available").addEventListener("change", function () {
    api("POST", "/agent/api/availability", {available: $("available").checked}).then(refreshQueue);
  });

  $("logout").addEventListener("click", function () {
    api("POST", "/agent/api/logout").then(function () { window.location.assign("/agent/login?lang=" + LANG); });
  });

  // Live updates: a WebSocket when it works, polling when it does not ------------------------

  function startPolling() {
    $("live").textContent = T.polling;
    if (pollTimer) { return; }
    pollTimer = window.setInterval(function () {
      refreshQueue();
      if (selected) { openItem(selected, false); }
    }, 5000);
  }

  function stopPolling() {
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function showTyping(id) {
    if (id !== selected) { return; }
    $("typing").textContent = T.guardian_typing;
    window.clearTimeout(typingTimer);
    typingTimer = window.setTimeout(function () { $("typing").textContent = ""; }, 6000);
  }

  function onEvent(message) {
    if (message.type === "logged_out") { window.location.assign("/agent/login?lang=" + LANG); return; }
    if (message.type === "typing") { showTyping(message.id); return; }
    if (message.type === "transfer" && me && message.to === me.username) { alertAgent(T.announce_transfer); }
    if (["queue", "agents", "left", "message", "transfer"].indexOf(message.type) >= 0) { refreshQueue(); }
    var concerns = !message.id || message.id === selected;
    if (["message", "left", "queue", "note", "transfer"].indexOf(message.type) >= 0 && selected && concerns) {
      if (message.type === "message") { $("typing").textContent = ""; }
      openItem(selected, false);
      if (message.type === "message" && current && current.status === "assigned") { announce(T.new_message); }
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + window.location.host + "/agent/api/ws");
    } catch (e) {
      startPolling();
      return;
    }
    socket.onopen = function () { stopPolling(); $("live").textContent = T.live; };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onEvent(message);
    };
    socket.onclose = function () {
      socket = null;
      startPolling();
      window.setTimeout(connect, 10000);
    };
  }

  // The heartbeat: the server returns an agent's conversations to the queue when it stops.
  window.setInterval(function () {
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({type: "ping"}));
    } else {
      refreshQueue();
    }
  }, 15000);

  refreshQueue();
  connect();
})();
