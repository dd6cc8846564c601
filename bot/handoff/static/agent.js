// What the agent console's pages share: texts, the API call, Stockholm time, and the read-only
// parts of a conversation (context, notes, transcript). Everything a guardian or an agent wrote is
// put on the page with textContent, never innerHTML.
"use strict";
window.AgentPage = (function () {
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var T = data.texts;
  var LANG = data.lang;
  var LOCALE = LANG === "sv" ? "sv-SE" : "en-GB";
  var ZONE = "Europe/Stockholm";  // every time on every page, whatever the browser's zone
  var timeOnly = new Intl.DateTimeFormat(LOCALE, {timeZone: ZONE, hour: "2-digit", minute: "2-digit"});
  var dateTime = new Intl.DateTimeFormat(LOCALE, {timeZone: ZONE, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit"});
  var dayOnly = new Intl.DateTimeFormat(LOCALE, {timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit"});

  function $(id) { return document.getElementById(id); }

  function t(key, values) {
    var text = T[key] || "";
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }

  function labelOf(prefix, value) {
    return T[prefix + value] || value || T.none;
  }

  // A choice list: the server's values for data-choices="<list>", each labelled by the text
  // "<list>_<value>", after a first "any" choice when data-any names its text.
  function fillChoices(select) {
    var list = select.getAttribute("data-choices");
    var any = select.getAttribute("data-any");
    if (any) { select.appendChild(new Option(t(any), "")); }
    (data.choices[list] || []).forEach(function (value) {
      select.appendChild(new Option(T[list + "_" + value] || value, value));
    });
  }

  function applyTexts() {
    document.querySelectorAll("select[data-choices]").forEach(fillChoices);
    document.querySelectorAll("[data-t]").forEach(function (el) { el.textContent = t(el.getAttribute("data-t")); });
    document.querySelectorAll("[data-t-aria]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.getAttribute("data-t-aria")));
    });
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

  // Stockholm time: "10:04" today-style, or with the date.
  function when(iso, withDate) {
    if (!iso) { return T.none; }
    var moment = new Date(iso);
    if (isNaN(moment.getTime())) { return T.none; }
    return (withDate ? dateTime : timeOnly).format(moment);
  }

  function day(iso) {
    return iso ? dayOnly.format(new Date(iso)) : T.none;
  }

  function addField(dl, key, value) {
    if (value === null || value === undefined || value === "") { return; }
    var dt = document.createElement("dt");
    dt.textContent = T[key];
    var dd = document.createElement("dd");
    dd.textContent = String(value);
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  function nameOf(item) {
    return item.given_name || T.guardian_unknown;
  }

  function outcomeLabel(item) {
    if (item.kind === "conversation" && item.status === "assigned" && item.guardian_left) { return T.guardian_ended; }
    return labelOf("result_", item.outcome_key);
  }

  // The context of an item: what it is about, where the guardian was, how it ended.
  function renderContext(dl, item) {
    var ctx = item.context || {};
    dl.textContent = "";
    addField(dl, "reference", item.reference);
    addField(dl, "status", outcomeLabel(item));
    addField(dl, "guardian", item.given_name);
    addField(dl, "topic", ctx.topic_title || item.about);
    addField(dl, "topic_group", ctx.topic_group_words);
    addField(dl, "where", ctx.where);
    if (ctx.current_where && ctx.current_where !== ctx.where) { addField(dl, "current_where", ctx.current_where); }
    addField(dl, "language", labelOf("lang_", ctx.language || item.lang));
    addField(dl, "channel", labelOf("channel_", ctx.channel || item.channel));
    addField(dl, "reason", ctx.reason ? labelOf("reason_", ctx.reason) : null);
    addField(dl, "received", when(item.created_at, true));
    if (item.agent_name) { addField(dl, "agent", item.agent_name); }
    if (item.closed_at) { addField(dl, "closed_at", when(item.closed_at, true)); }
    if (item.csat) { addField(dl, "csat", t("csat_value", {n: item.csat})); }
    if (item.references && item.references.length) { addField(dl, "dsr_references", item.references.join(", ")); }
  }

  function renderNotes(list, notes) {
    list.textContent = "";
    if (!notes || !notes.length) {
      var none = document.createElement("li");
      none.className = "empty";
      none.textContent = T.notes_none;
      list.appendChild(none);
      return;
    }
    notes.forEach(function (note) {
      var li = document.createElement("li");
      var head = document.createElement("span");
      head.className = "from";
      head.textContent = note.kind === "transfer"
        ? t("note_transfer", {agent: note.by_name || note.by, to: note.to_name || note.to})
        : (note.by_name || note.by);
      var at = document.createElement("span");
      at.className = "at";
      at.textContent = when(note.at, true);
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = note.text;
      li.appendChild(head);
      li.appendChild(at);
      if (note.text) { li.appendChild(document.createElement("br")); li.appendChild(text); }
      list.appendChild(li);
    });
  }

  function renderTranscript(list, entries) {
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
      at.textContent = when(entry.at, false);
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

  function setLinks(other) {
    var link = $("lang-link");
    if (link) {
      link.setAttribute("href", window.location.pathname + "?lang=" + other);
      link.setAttribute("lang", other);
    }
    document.querySelectorAll("a[data-page]").forEach(function (a) {
      a.setAttribute("href", a.getAttribute("data-page") + "?lang=" + LANG);
    });
  }

  applyTexts();
  setLinks(LANG === "sv" ? "en" : "sv");

  return {T: T, LANG: LANG, $: $, t: t, labelOf: labelOf, api: api, when: when, day: day, addField: addField,
          nameOf: nameOf, outcomeLabel: outcomeLabel, renderContext: renderContext, renderNotes: renderNotes,
          renderTranscript: renderTranscript};
})();
