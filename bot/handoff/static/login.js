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
      error.textContent = response.status === 401 ? T.login_failed : T.error;
      error.hidden = false;
      document.getElementById("password").focus();
    }).catch(function () {
      error.textContent = T.error;
      error.hidden = false;
    });
  });
})();
