// The JSON API under /staff/api/: the language on every call, the CSRF header on every change,
// and a 401 (the login ended) sends the user back to the login form.
import { lang, say, t } from "./staff_common.js";

let CSRF = null;

export function setCsrf(token) {
  CSRF = token;
}

/**
 * Call the API: resolves to {status, ok, data} and never throws (a network failure is status 0).
 * `options.quiet401`: a 401 is only returned, not turned into the login form.
 */
export async function api(method, path, body, options = {}) {
  const url = path + (path.includes("?") ? "&" : "?") + "lang=" + lang();
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && CSRF) headers["X-CSRF-Token"] = CSRF;
  let response;
  try {
    response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    say(t("error_network"));
    return { status: 0, ok: false, data: null };
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (response.status === 401 && !options.quiet401) {
    window.dispatchEvent(new CustomEvent("staff:unauthorized"));
  }
  return { status: response.status, ok: response.ok, data };
}

/** The server's sentence for a refusal, or a general one. */
export function refusal(response) {
  if (response.status === 403) return (response.data && response.data.error) || t("error_forbidden");
  if (response.data && response.data.error) return response.data.error;
  return response.status === 0 ? t("error_network") : t("error");
}
