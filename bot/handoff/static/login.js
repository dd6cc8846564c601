// The agent console's login page: posts the credentials as JSON, then opens the console.
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var T = data.texts;
  document.querySelectorAll("[data-t]").forEach(function (el) {
    el.textContent = T[el.getAttribute("data-t")] || "";
  });
  var other = data.lang === "sv" ? "en" : "sv";
  var langLink = document.getElementById("lang-link");
  langLink.setAttribute("href", "/agent/login?lang=" + other);
  langLink.setAttribute("lang", other);
  var form = document.getElementById("login-form");
  var error = document.getElementById("login-error");
  document.getElementById("username").focus();

  // What a refused login tells the agent: a throttle (429) is not a wrong password, and says
  // how long to wait (the Retry-After header, in seconds).
  function refusal(response) {
    if (response.status === 401) return T.login_failed;
    if (response.status === 429) {
      var seconds = parseInt(response.headers.get("Retry-After"), 10);
      if (!(seconds > 0)) seconds = 1;
      return (T.login_throttled || "").split("{seconds}").join(String(seconds));
    }
    return T.error;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    var body = JSON.stringify({
      username: document.getElementById("username").value.trim(),
      password: document.getElementById("password").value
    });
    fetch("/agent/api/login", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: body
    }).then(function (response) {
      if (response.ok) {
        window.location.assign("/agent/?lang=" + data.lang);
        return;
      }
      error.textContent = refusal(response);
      error.hidden = false;
      document.getElementById("password").focus();
    }).catch(function () {
      error.textContent = T.error;
      error.hidden = false;
    });
  });
})();
