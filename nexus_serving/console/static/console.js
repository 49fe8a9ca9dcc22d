// Trade Nexus console: what htmx leaves to the page. No inline scripts (the CSP allows only these files).
(function () {
  "use strict";
  function say(text) {
    var message = document.getElementById("console-message");
    if (message) { message.textContent = text; }
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 401) {  // the token was revoked or the cookie is gone: sign in again
      window.location.assign("/console/sign-in");
      return;
    }
    var detail = "";
    try { detail = JSON.parse(xhr.responseText).detail; } catch (e) { detail = xhr.statusText; }
    say("Refused (" + xhr.status + "): " + detail);
  });
  document.addEventListener("htmx:sendError", function () {
    say("The decision service did not answer; retrying.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "kill-switch-form" && event.detail.successful) {
      form.querySelector("#switch-reason").value = "";
      say("Kill switch changed.");
    }
  });
})();
