// The agent console: live queue, conversation view, replies, canned answers, close, left messages.
// Everything a guardian wrote is put on the page with textContent, never innerHTML.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var T = data.texts;
  var LANG = data.lang;
  var $ = function (id) { return document.getElementById(id); };
  var selected = null;        // id of the item shown
  var current = null;         // the item shown, as the API gave it
  var me = null;
  var socket = null;
  var pollTimer = null;
  var cannedFor = null;
  var cannedAnswers = [];

  function t(key, values) {
    var text = T[key] || "";
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }

  document.querySelectorAll("[data-t]").forEach(function (el) { el.textContent = t(el.getAttribute("data-t")); });
  document.querySelectorAll("[data-t-aria]").forEach(function (el) {
    el.setAttribute("aria-label", t(el.getAttribute("data-t-aria")));
  });
  var other = LANG === "sv" ? "en" : "sv";
  $("lang-link").setAttribute("href", "/agent/?lang=" + other);
  $("lang-link").setAttribute("lang", other);
  $("stats-link").setAttribute("href", "/agent/stats?lang=" + LANG);

  function announce(text) {
    var el = $("announcer");
    el.textContent = "";
    window.setTimeout(function () { el.textContent = text; }, 50);
  }

  function api(method, path, body) {
    var options = {method: method, credentials: "same-origin", headers: {}};
    if (method !== "GET") {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 401) {
        window.location.assign("/agent/login?lang=" + LANG);
        throw new Error("logged out");
      }
      return response.json().catch(function () { return {}; }).then(function (json) {
        return {status: response.status, ok: response.ok, body: json};
      });
    });
  }

  // The queue -------------------------------------------------------------------------------

  function labelOf(prefix, value) {
    return T[prefix + value] || value || T.none;
  }

  function itemLine(item) {
    if (item.kind === "message") {
      return (item.name || "") + " · " + new Date(item.created_at).toLocaleString(LANG === "sv" ? "sv-SE" : "en-GB");
    }
    var parts = [];
    if (item.status === "waiting") {
      parts.push(t("waiting_item", {position: item.position, minutes: item.waited_minutes}));
    } else {
      parts.push(t("assigned_item", {agent: item.agent_name || item.agent || ""}));
    }
    parts.push(labelOf("channel_", item.channel));
    parts.push(labelOf("lang_", item.lang));
    if (item.guardian_left) { parts.push(T.status_abandoned); }
    return parts.join(" · ");
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
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.dataset.id = item.id;
      if (item.id === selected) { li.className = "selected"; }
      var p = document.createElement("p");
      p.textContent = itemLine(item);
      li.appendChild(p);
      var row = document.createElement("div");
      row.className = "row";
      var show = document.createElement("button");
      show.type = "button";
      show.className = "secondary";
      show.textContent = T.open;
      show.setAttribute("aria-label", T.open + ": " + itemLine(item));
      show.addEventListener("click", function () { openItem(item.id, true); });
      row.appendChild(show);
      if (item.kind === "conversation" && item.status === "waiting") {
        var accept = document.createElement("button");
        accept.type = "button";
        accept.textContent = T.accept;
        accept.setAttribute("aria-label", T.accept + ": " + itemLine(item));
        accept.addEventListener("click", function () { acceptItem(item.id); });
        row.appendChild(accept);
      }
      li.appendChild(row);
      list.appendChild(li);
    });
  }

  function refreshQueue() {
    return api("GET", "/agent/api/queue").then(function (r) {
      if (!r.ok) { return; }
      me = r.body.agent;
      $("who").textContent = t("logged_in_as", {agent: me.display_name});
      $("available").checked = !!me.available;
      renderList("waiting-list", r.body.waiting, "none_waiting");
      renderList("assigned-list", r.body.assigned, "none_assigned");
      renderList("messages-list", r.body.messages, "none_messages");
    }).catch(function () {});
  }

  // One conversation or message -------------------------------------------------------------

  function addField(dl, key, value) {
    var dt = document.createElement("dt");
    dt.textContent = T[key];
    var dd = document.createElement("dd");
    dd.textContent = value === null || value === undefined || value === "" ? T.none : String(value);
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  function renderTranscript(entries) {
    var list = $("transcript");
    var atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
    list.textContent = "";
    entries.forEach(function (entry) {
      var li = document.createElement("li");
      li.className = "from-" + entry.from;
      var from = document.createElement("span");
      from.className = "from";
      from.textContent = T["from_" + entry.from] || entry.from;
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = entry.text;
      var at = document.createElement("span");
      at.className = "at";
      at.textContent = entry.at ? entry.at.slice(11, 16) : "";
      li.appendChild(from);
      li.appendChild(text);
      li.appendChild(at);
      if (entry.buttons && entry.buttons.length) {
        var buttons = document.createElement("span");
        buttons.className = "buttons";
        buttons.textContent = entry.buttons.map(function (b) { return "[" + b.label + "]"; }).join(" ");
        li.appendChild(buttons);
      }
      list.appendChild(li);
    });
    if (atBottom) { list.scrollTop = list.scrollHeight; }
  }

  function loadCanned(lang) {
    if (cannedFor === lang) { return; }
    cannedFor = lang;
    api("GET", "/agent/api/canned?lang=" + encodeURIComponent(lang)).then(function (r) {
      var select = $("canned");
      select.textContent = "";
      var first = document.createElement("option");
      first.value = "";
      first.textContent = T.canned_pick;
      select.appendChild(first);
      cannedAnswers = r.ok ? r.body.answers : [];
      cannedAnswers.forEach(function (answer, index) {
        var option = document.createElement("option");
        option.value = String(index);
        option.textContent = answer.title;
        select.appendChild(option);
      });
    });
  }

  function render(item) {
    current = item;
    $("placeholder").hidden = true;
    $("detail").hidden = false;
    var isMessage = item.kind === "message";
    var ctx = item.context || {};
    var dl = $("context");
    dl.textContent = "";
    addField(dl, "status", labelOf("status_", item.status));
    addField(dl, "topic", ctx.topic_title || ctx.topic);
    var flow = ctx.flow ? ctx.flow + (ctx.step ? " / " + ctx.step : "") : null;
    addField(dl, "flow_step", flow);
    addField(dl, "language", labelOf("lang_", ctx.language));
    addField(dl, "channel", labelOf("channel_", ctx.channel));
    addField(dl, "reason", labelOf("reason_", ctx.reason));
    $("message-view").hidden = !isMessage;
    if (isMessage) {
      var fields = $("message-fields");
      fields.textContent = "";
      addField(fields, "message_name", item.message.name);
      addField(fields, "message_contact", item.message.contact);
      addField(fields, "message_text", item.message.text);
      addField(fields, "message_received", item.created_at.replace("T", " ").slice(0, 16));
      $("mark-done").hidden = item.status !== "open";
    }
    var notice = $("notice");
    notice.hidden = !item.guardian_left;
    notice.textContent = item.guardian_left ? T.guardian_left : "";
    renderTranscript(item.transcript || []);
    var mine = !isMessage && item.status === "assigned" && item.mine;
    $("accept").hidden = isMessage || item.status !== "waiting";
    $("reply-form").hidden = !mine || item.guardian_left;
    $("close-form").hidden = !mine;
    if (mine) { loadCanned(ctx.language || "sv"); }
  }

  function openItem(id, focus) {
    selected = id;
    return api("GET", "/agent/api/conversations/" + encodeURIComponent(id)).then(function (r) {
      if (!r.ok) { announce(T.error); return; }
      render(r.body);
      document.querySelectorAll(".items li").forEach(function (li) {
        li.className = li.dataset.id === id ? "selected" : (li.className === "empty" ? "empty" : "");
      });
      if (focus) { $("conversation").focus(); }
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

  $("insert").addEventListener("click", function () {
    var index = $("canned").value;
    if (index === "") { return; }
    var reply = $("reply");
    var text = cannedAnswers[Number(index)].text;
    reply.value = reply.value ? reply.value + "\n\n" + text : text;
    reply.focus();
  });

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

  $("close-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (current) { act("conversations", "close", {outcome: $("outcome").value}, T.closed_done); }
  });

  $("mark-done").addEventListener("click", function () {
    if (current) { act("left-messages", "done", {}, T.status_done); }
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
      if (message.type === "logged_out") { window.location.assign("/agent/login?lang=" + LANG); return; }
      if (message.type === "queue" || message.type === "agents" || message.type === "left") { refreshQueue(); }
      if ((message.type === "message" || message.type === "left" || message.type === "queue") && selected
          && (!message.id || message.id === selected)) {
        openItem(selected, false);
        if (message.type === "message" && current && current.status === "assigned") { announce(T.new_message); }
      }
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
