// The agent console's history: find closed conversations, left messages and calls by reference
// (M-…, C-…, R-…, DSR-…), name, phone, date or outcome, and read one (read-only).
"use strict";
(function () {
  var P = window.AgentPage;
  var T = P.T, $ = P.$, t = P.t, api = P.api;

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text || T.none;
    row.appendChild(td);
    return td;
  }

  function showRows(items) {
    var rows = $("result-rows");
    rows.textContent = "";
    items.forEach(function (item) {
      var row = document.createElement("tr");
      var first = document.createElement("td");
      var open = document.createElement("button");
      open.type = "button";
      open.className = "link-button";
      open.textContent = item.reference;
      open.setAttribute("aria-label", t("open_reference", {reference: item.reference}));
      open.addEventListener("click", function () { openItem(item.id); });
      first.appendChild(open);
      if (item.related) {
        var related = document.createElement("span");
        related.className = "hint";
        related.textContent = " " + T.related;
        first.appendChild(related);
      }
      row.appendChild(first);
      cell(row, P.labelOf("kind_", item.kind));
      cell(row, P.when(item.created_at, true));
      cell(row, item.name || item.given_name);
      cell(row, item.about);
      cell(row, P.outcomeLabel(item));
      rows.appendChild(row);
    });
    $("results").hidden = !items.length;
  }

  function search() {
    var params = new URLSearchParams();
    ["q", "from", "to", "outcome"].forEach(function (id) {
      var value = $(id).value.trim();
      if (value) { params.set(id, value); }
    });
    $("detail").hidden = true;
    return api("GET", "/agent/api/history?" + params.toString()).then(function (r) {
      if (!r.ok) { $("result-count").textContent = r.body.error || T.error; showRows([]); return; }
      showRows(r.body.items);
      $("result-count").textContent = r.body.total > r.body.items.length
        ? t("results_more", {count: r.body.items.length, total: r.body.total})
        : t(r.body.total === 1 ? "results_count_one" : "results_count", {count: r.body.total});
    }).catch(function () { $("result-count").textContent = T.error; });
  }

  function openItem(id) {
    api("GET", "/agent/api/conversations/" + encodeURIComponent(id)).then(function (r) {
      if (!r.ok) { $("result-count").textContent = T.error; return; }
      var item = r.body;
      $("detail-heading").textContent = t("detail_heading", {reference: item.reference});
      P.renderContext($("context"), item);
      var fields = $("message-fields");
      fields.textContent = "";
      var extra = item.message || item.callback;
      if (extra) {
        P.addField(fields, "message_name", extra.name);
        P.addField(fields, "message_contact", extra.contact);
        P.addField(fields, "message_text", extra.text);
        P.addField(fields, "callback_note", extra.note);
        P.addField(fields, "callback_result", extra.result ? P.labelOf("result_call_", extra.result) : null);
        P.addField(fields, "callback_result_note", extra.result_note);
      }
      $("message-block").hidden = !extra;
      P.renderNotes($("notes"), item.notes);
      P.renderTranscript($("transcript"), item.transcript || []);
      $("detail").hidden = false;
      $("detail-heading").focus();
    }).catch(function () { $("result-count").textContent = T.error; });
  }

  $("search-form").addEventListener("submit", function (event) {
    event.preventDefault();
    search();
  });

  var given = new URLSearchParams(window.location.search).get("q");
  if (given) { $("q").value = given; }
  search();
})();
