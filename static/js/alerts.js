/* Security alerts, live: a rule just raised an alert for someone this user watches over.
 *
 * static/js/live.js keeps the page's one websocket and re-dispatches its events as
 * "crm:event" DOM events. On `alert.raised` (the alert's id, its rule and the rule's title;
 * sent to security officers and the user's sales head, security/alerts.py) we show a toast
 * that screen readers announce (role="alert") and, for console users (base.html gives them
 * data-alert-url), link it to the alert and count it in the nav's badge. The toast stays
 * until closed (a button, or Escape): an alert is not something to miss while looking away.
 * Everything from the event goes in as text, never as HTML.
 */
(function () {
  "use strict";

  var ru = function () { return document.documentElement.lang === "ru"; };

  function text(ruText, enText) { return ru() ? ruText : enText; }

  function alertUrl(id) {
    var template = document.body.dataset.alertUrl;  // ".../security/alerts/0/"
    return template ? template.replace(/\/0\/$/, "/" + id + "/") : "";
  }

  function region() {
    var box = document.getElementById("alert-toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "alert-toasts";
      box.className = "toasts";
      document.body.appendChild(box);
    }
    return box;
  }

  function bumpBadge() {
    var badge = document.querySelector("[data-alert-badge]");
    if (!badge) return;
    var count = badge.querySelector("[data-alert-count]");
    count.textContent = String((parseInt(count.textContent, 10) || 0) + 1);
    badge.hidden = false;
  }

  function show(message) {
    var id = Number(message.alert);
    if (!Number.isInteger(id) || id <= 0) return;
    if (document.querySelector('[data-alert-toast="' + id + '"]')) return;

    var toast = document.createElement("div");
    toast.className = "toast toast--alert";
    toast.setAttribute("role", "alert");
    toast.dataset.alertToast = String(id);

    var title = document.createElement("p");
    title.className = "toast__title";
    title.textContent = text("Оповещение безопасности", "Security alert");
    toast.appendChild(title);

    var body = document.createElement("p");
    body.textContent = String(message.title || message.rule || "");
    toast.appendChild(body);

    var url = alertUrl(id);
    if (url) {
      var link = document.createElement("a");
      link.href = url;
      link.textContent = text("Открыть оповещение №", "Open alert #") + id;
      var p = document.createElement("p");
      p.appendChild(link);
      toast.appendChild(p);
    }

    var close = document.createElement("button");
    close.type = "button";
    close.className = "button button--small button--ghost toast__close";
    close.dataset.toastClose = "";
    close.textContent = text("Закрыть", "Close");
    toast.appendChild(close);

    region().appendChild(toast);
    if (url) bumpBadge();
  }

  document.addEventListener("crm:event", function (event) {
    var message = event.detail || {};
    if (message.type === "alert.raised") show(message);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-toast-close]");
    if (!button) return;
    var toast = button.closest("[data-alert-toast]");
    if (toast) toast.remove();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var toast = event.target.closest && event.target.closest("[data-alert-toast]");
    if (toast) toast.remove();
  });
})();
