/* Screen pop: an incoming call to the user's extension shows who calls, on every page.
 *
 * static/js/live.js keeps the page's one websocket and re-dispatches its events as
 * "crm:event" DOM events. On `call.incoming` (ids only) we fetch the pop-up through the
 * access-checked view (/calls/<id>/popup/) and show it in a corner; `call.ended` removes it.
 * `call.updated` on a deal card re-renders that call's timeline entry (answered, talk time).
 */
(function () {
  "use strict";

  var ended = {};  // calls that ended before their pop-up arrived

  function popupUrl(callId) {
    var template = document.body.dataset.callPopupUrl;  // ".../calls/0/popup/"
    return template ? template.replace(/\/0\/popup\/$/, "/" + callId + "/popup/") : "";
  }

  function region() {
    var box = document.getElementById("call-popups");
    if (!box) {
      box = document.createElement("div");
      box.id = "call-popups";
      box.className = "call-popups";
      document.body.appendChild(box);
    }
    return box;
  }

  function find(callId) {
    return document.querySelector('[data-call-popup="' + Number(callId) + '"]');
  }

  function show(callId) {
    var url = popupUrl(callId);
    if (!url || find(callId) || !window.fetch) return;
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html || ended[callId] || find(callId)) return;
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        region().appendChild(template.content);
      })
      .catch(function () {});
  }

  function remove(callId) {
    ended[callId] = true;
    var popup = find(callId);
    if (popup) popup.remove();
  }

  function refreshEntry(message) {
    var page = document.querySelector("[data-deal-id][data-entry-url]");
    var entry = document.getElementById("entry-" + message.entry);
    if (!page || !entry || Number(page.dataset.dealId) !== message.deal) return;
    fetch(page.dataset.entryUrl.replace(/0\/$/, message.entry + "/"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html) return;
        var template = document.createElement("template");
        template.innerHTML = html.trim();
        var fresh = template.content.querySelector("li[data-entry-id]");
        var current = document.getElementById("entry-" + message.entry);
        // Never pull a playing recording from under the user.
        var playing = current && Array.prototype.some.call(
          current.querySelectorAll("audio"), function (audio) { return !audio.paused; });
        if (fresh && current && !playing) current.replaceWith(fresh);
      })
      .catch(function () {});
  }

  document.addEventListener("crm:event", function (event) {
    var message = event.detail || {};
    if (message.type === "call.incoming") show(message.call);
    else if (message.type === "call.ended") remove(message.call);
    else if (message.type === "call.updated") refreshEntry(message);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-call-popup-close]");
    if (!button) return;
    var popup = button.closest("[data-call-popup]");
    if (popup) popup.remove();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var popup = event.target.closest && event.target.closest("[data-call-popup]");
    if (popup) popup.remove();
  });
})();
