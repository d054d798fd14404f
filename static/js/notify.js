/* Live signals on every page: a client wrote, a lead arrived, a colleague mentioned you.
 *
 * static/js/live.js keeps the page's one websocket and re-dispatches its events as
 * "crm:event" DOM events. A `notify` event (crm/notifications.py: only what the notice
 * shows, sent only to people who see the deal) gives:
 * - the menu's unread badge and the tab's title "(3) ..." (the assignee's events carry
 *   `unread`, the number of their conversations with unread messages);
 * - a notice naming the client (or the colleague who mentioned you) with a link to the card;
 *   it goes by itself after a while, unless pointed at or focused; Esc closes them;
 * - a short sound and, when the tab is in the background, a browser notification: both are
 *   settings of this browser for this user (the `?` help), kept in localStorage; the
 *   browser's permission is asked once, when the user turns the setting on.
 * A `deal.created` event refreshes the deals list and the board in place (through the same,
 * access-checked page). Everything from an event is put in as text, never as HTML.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-live-signals]");
  if (!root) return;

  var SHOW_MS = 12000;
  var MAX_TOASTS = 4;
  var settingsKey = "crm.notify." + root.dataset.user;
  var baseTitle = document.title.replace(/^\(\d+\)\s+/, "");

  function text(name) { return root.getAttribute("data-text-" + name) || ""; }

  /* --- Settings (this browser, this user) -------------------------------------------------- */

  function settings() {
    try { return JSON.parse(window.localStorage.getItem(settingsKey)) || {}; }
    catch (e) { return {}; }
  }

  function saveSettings(values) {
    try { window.localStorage.setItem(settingsKey, JSON.stringify(values)); } catch (e) { /* private mode */ }
  }

  function showPermission() {
    var box = document.querySelector("[data-notify-permission]");
    if (!box) return;
    box.textContent = settings().desktop && "Notification" in window &&
      Notification.permission === "denied" ? text("blocked") : "";
  }

  document.querySelectorAll("[data-notify-setting]").forEach(function (box) {
    var name = box.getAttribute("data-notify-setting");
    if (name === "desktop" && !("Notification" in window)) box.disabled = true;
    box.checked = !!settings()[name];
    box.addEventListener("change", function () {
      var values = settings();
      values[name] = box.checked;
      if (name === "desktop" && box.checked && "Notification" in window &&
          Notification.permission === "default" && !values.asked) {
        values.asked = true;  // once: a refusal is the user's answer, not asked again
        Notification.requestPermission().then(showPermission, showPermission);
      }
      saveSettings(values);
      showPermission();
    });
  });
  showPermission();

  /* --- Badge and title ---------------------------------------------------------------------- */

  function badge() {
    var found = document.querySelector("[data-unread-badge]");
    if (found) return found;
    var link = document.querySelector('.mainnav a[href="' + root.dataset.conversationsUrl + '"]');
    if (!link) return null;
    // base.html leaves it out while nothing is unread: made as it would have been.
    found = document.createElement("span");
    found.className = "badge badge--unread";
    found.setAttribute("data-unread-badge", "");
    found.hidden = true;
    found.appendChild(document.createTextNode("0"));
    link.appendChild(document.createTextNode(" "));
    link.appendChild(found);
    return found;
  }

  function unreadShown() {
    var found = document.querySelector("[data-unread-badge]");
    if (!found || found.hidden) return 0;
    return parseInt(found.textContent, 10) || 0;
  }

  function setTitle(count) {
    document.title = (count > 0 ? "(" + count + ") " : "") + baseTitle;
  }

  function setUnread(count) {
    var found = badge();
    if (found) {
      // The number is the first text node; a visually hidden word may follow it.
      var node = found.firstChild;
      if (node && node.nodeType === Node.TEXT_NODE) node.nodeValue = String(count);
      else found.insertBefore(document.createTextNode(String(count)), node);
      found.hidden = count <= 0;
    }
    setTitle(count);
  }

  setTitle(unreadShown());

  /* --- Notices --------------------------------------------------------------------------- */

  function region() {
    var box = document.getElementById("notify-toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "notify-toasts";
      box.className = "toasts toasts--notify";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    return box;
  }

  function safeUrl(url) {
    // Links of this site only: an event never sends the page elsewhere.
    return typeof url === "string" && /^\/(?!\/)/.test(url) ? url : "";
  }

  function close(toast) {
    window.clearTimeout(toast._timer);
    toast.remove();
  }

  function schedule(toast) {
    window.clearTimeout(toast._timer);
    toast._timer = window.setTimeout(function () {
      if (toast.matches(":hover") || toast.contains(document.activeElement)) schedule(toast);
      else close(toast);
    }, SHOW_MS);
  }

  function toast(kind, title, lines, url, key) {
    var box = region();
    var old = key ? box.querySelector('[data-notify-key="' + key + '"]') : null;
    if (old) close(old);
    var item = document.createElement("div");
    item.className = "toast toast--" + kind;
    item.setAttribute("data-notify-toast", kind);
    if (key) item.setAttribute("data-notify-key", key);

    var head = document.createElement("p");
    head.className = "toast__title";
    head.textContent = title;
    item.appendChild(head);
    lines.forEach(function (line) {
      var p = document.createElement("p");
      if (line.url) {
        var link = document.createElement("a");
        link.href = line.url;
        link.textContent = line.text;
        p.appendChild(link);
      } else {
        p.textContent = line.text;
      }
      item.appendChild(p);
    });
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small button--ghost toast__close";
    button.textContent = text("close");
    button.addEventListener("click", function () { close(item); });
    item.appendChild(button);

    box.appendChild(item);
    while (box.children.length > MAX_TOASTS) close(box.firstElementChild);
    schedule(item);
    return item;
  }

  var audio = null;
  function beep() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      audio = audio || new Context();
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.3);
    } catch (e) { /* no sound, the notice still shows */ }
  }

  function browserNotice(title, body, url, tag) {
    if (!settings().desktop || !document.hidden || !("Notification" in window) ||
        Notification.permission !== "granted") return;
    try {
      var notice = new Notification(title, { body: body, tag: tag, lang: document.documentElement.lang });
      notice.onclick = function () {
        window.focus();
        if (url) window.location.href = url;
        notice.close();
      };
    } catch (e) { /* some browsers allow notifications from service workers only */ }
  }

  function onThisCard(dealId) {
    var page = document.querySelector("[data-deal-id][data-entry-url]");
    return page && Number(page.dataset.dealId) === dealId && !document.hidden;
  }

  function show(message) {
    if (typeof message.unread === "number") setUnread(message.unread);
    var url = safeUrl(message.url);
    var title, lines, body;
    if (message.kind === "message") {
      var items = Array.isArray(message.items) && message.items.length ? message.items
        : [{ deal: message.deal, name: message.name, url: message.url }];
      // The card on screen shows its own new messages in its panel.
      items = items.filter(function (item) { return !onThisCard(Number(item.deal)); });
      if (!items.length) return;
      title = text("message");
      lines = items.map(function (item) {
        return { text: String(item.name || ""), url: safeUrl(item.url) };
      });
      if (message.more > 0) lines.push({ text: text("messages-more").replace("%(count)s", String(message.more)) });
      body = lines.map(function (line) { return line.text; }).join(", ");
      url = lines[0].url;
    } else if (message.kind === "lead") {
      title = text("lead");
      lines = [{ text: String(message.name || ""), url: url }];
      body = lines[0].text;
    } else if (message.kind === "mention") {
      title = text("mention").replace("%(name)s", String(message.by || ""));
      lines = [{ text: String(message.title || text("open")), url: url }];
      body = lines[0].text;
    } else {
      return;
    }
    toast(message.kind, title, lines, url, message.kind === "mention" ? "entry-" + message.entry : "");
    if (settings().sound) beep();
    browserNotice(title, body, url, message.kind + "-" + (message.entry || message.deal));
  }

  /* --- Live lists: a new deal on the deals list and the board -------------------------- */

  var refreshTimer = null;
  var newDeals = [];

  function markNew(container) {
    newDeals.forEach(function (id) {
      container.querySelectorAll('a[href="/deals/' + id + '/"]').forEach(function (link) {
        var row = link.closest("tr, li");
        if (row) row.classList.add("is-new");
      });
    });
  }

  function refreshLists() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(function () {
      var lists = document.querySelectorAll("[data-live-deals][id]");
      if (!lists.length || !window.fetch) return;
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          lists.forEach(function (list) {
            // Never pull a card from under the user's mouse or keyboard.
            if (list.contains(document.activeElement) || list.querySelector(".is-dragging, .is-saving, details[open]")) return;
            var replacement = fresh.getElementById(list.id);
            if (!replacement) return;
            list.replaceChildren.apply(list, Array.prototype.map.call(
              replacement.childNodes, function (node) { return document.importNode(node, true); }));
            markNew(list);
          });
          newDeals = [];
        })
        .catch(function () {});
    }, 250);
  }

  document.addEventListener("crm:event", function (event) {
    var message = event.detail || {};
    if (message.type === "notify") show(message);
    else if (message.type === "deal.created") {
      newDeals.push(Number(message.deal));
      refreshLists();
    } else if (message.type === "socket.reconnected" || message.type === "events.resumed") {
      refreshLists();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    var toasts = document.querySelectorAll("[data-notify-toast]");
    if (!toasts.length) return;
    toasts.forEach(close);
  });
})();
