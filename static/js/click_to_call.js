/* The deal card's Call button; without it the form posts and the page reloads.
 *
 * The button posts with fetch and shows the command's status at once; "call.callback" events
 * (live.js re-dispatches websocket events as "crm:event") carry ids only, so the status is
 * fetched through the access-checked status view and replaces the one shown.
 */
(function () {
  "use strict";

  var JSON_HEADERS = { Accept: "application/json", "X-Requested-With": "fetch" };

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function show(panel, html) {
    var box = panel.querySelector("[data-click-to-call-status]");
    if (box) box.innerHTML = html;
  }

  function errorHtml(message) {
    var p = document.createElement("p");
    p.className = "click-to-call__status click-to-call__status--failed";
    p.setAttribute("role", "alert");
    p.textContent = message;
    return p.outerHTML;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("form[data-click-to-call]");
    if (!form || !window.fetch) return;
    event.preventDefault();
    var panel = form.closest("#click-to-call");
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: Object.assign({ "X-CSRFToken": csrfToken(form) }, JSON_HEADERS),
    })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.status_html) show(panel, data.status_html);
        else if (data.errors) show(panel, errorHtml(data.errors.__all__.map(function (e) { return e.message; }).join(" ")));
      })
      .catch(function () { form.submit(); })
      .then(function () { window.setTimeout(function () { button.disabled = false; }, 3000); });
  });

  document.addEventListener("crm:event", function (event) {
    var message = event.detail || {};
    if (message.type !== "call.callback") return;
    var panel = document.getElementById("click-to-call");
    if (!panel) return;
    // Only the call this page started (a colleague's calls from the same deal are theirs).
    var shown = panel.querySelector("[data-command]");
    if (!shown || Number(shown.dataset.command) !== message.command) return;
    var url = panel.dataset.statusUrl.replace(/0\/$/, message.command + "/");
    fetch(url, { headers: JSON_HEADERS, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) show(panel, data.status_html); });
  });
})();
