/* The deal card's conversation panel; everything works without it.
 *
 * The reply form is a data-async form: static/js/live.js posts it and puts the new entry on
 * the timeline. Here: the Retry button posts with fetch, and `message.status` events (live.js
 * re-dispatches every websocket event as a "crm:event" DOM event) re-fetch the message's
 * timeline entry through the ordinary, access-checked view, so its status badge, error and
 * Retry button come from the server.
 */
(function () {
  "use strict";

  var JSON_HEADERS = { Accept: "application/json", "X-Requested-With": "fetch" };

  // A status can arrive before its message's entry is on the page (the entry is still being
  // fetched, or the reply's answer is on its way): look again a few times before giving up.
  function refreshEntry(messageId, triesLeft) {
    var page = document.querySelector("[data-deal-id][data-entry-url]");
    var badge = document.querySelector('[data-message-status="' + messageId + '"]');
    var li = badge && badge.closest("li[data-entry-id]");
    if (page && !li && (triesLeft === undefined ? 5 : triesLeft) > 0) {
      window.setTimeout(function () {
        refreshEntry(messageId, (triesLeft === undefined ? 5 : triesLeft) - 1);
      }, 400);
      return;
    }
    if (!page || !li) return;
    var url = page.dataset.entryUrl.replace(/0\/$/, li.dataset.entryId + "/");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html) return;
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        var fresh = template.content.querySelector("li[data-entry-id]");
        if (fresh && li.parentNode) li.replaceWith(fresh);
      });
  }

  document.addEventListener("crm:event", function (event) {
    var message = event.detail || {};
    if (message.type === "message.status") refreshEntry(message.message);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-message-retry]") || !window.fetch) return;
    event.preventDefault();
    var button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    fetch(form.action, {
      method: "POST", body: new FormData(form), headers: JSON_HEADERS, credentials: "same-origin",
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) { form.submit(); return; }
      var badge = form.closest("[data-message-status]");
      if (badge) refreshEntry(badge.dataset.messageStatus);
    }).catch(function () { form.submit(); });
  });
})();
