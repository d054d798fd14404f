/* Progressive enhancement for the CRM pages; every page works without it.
 *
 * - Forms marked data-async (note, task, task done) post with fetch and update the page in
 *   place instead of reloading; on anything but a JSON answer they fall back to a normal post.
 * - "Show older" loads the next page of the timeline into the list.
 * - A folded form (details[data-fold-src]: a task, sharing, consents) is fetched when first
 *   unfolded; until then, and without scripts, the fold holds a link to a page with the form.
 * - On a deal card, a websocket to /ws/ subscribes to the deal (every other page of a logged-in
 *   user opens it too, for the user's own events: base.html marks them data-live-user; one
 *   socket a page either way). A `timeline.entry` event makes
 *   us fetch that entry's rendered HTML (through the ordinary, access-checked view) and put it
 *   on top of the timeline, unless it is already there (e.g. the note this user just added).
 *   A `deal.changed` event refreshes the parts of the page marked data-live-refresh.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var JSON_HEADERS = { Accept: "application/json", "X-Requested-With": "fetch" };

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function parse(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function timelineList() {
    return document.querySelector("[data-timeline]");
  }

  // Newest first: by time, then by id, as the server orders them.
  function entryKey(li) {
    var time = li.querySelector("time[datetime]");
    return [time ? Date.parse(time.getAttribute("datetime")) : 0, Number(li.dataset.entryId)];
  }

  function newer(a, b) {
    return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
  }

  /* Put rendered entries into the timeline, skipping those already shown. */
  function insertEntries(html, options) {
    var list = timelineList();
    if (!list) return;
    var fragment = parse(html);
    var items = Array.prototype.slice.call(fragment.querySelectorAll("li[data-entry-id]"));
    items.forEach(function (li) {
      if (document.getElementById(li.id)) return;
      var empty = list.querySelector("[data-empty]");
      if (empty) empty.remove();
      if (options && options.append) {
        list.appendChild(li);
        return;
      }
      li.classList.add("entry--new");
      var key = entryKey(li);
      var before = Array.prototype.find.call(
        list.querySelectorAll("li[data-entry-id]"),
        function (other) { return newer(key, entryKey(other)); }
      );
      list.insertBefore(li, before || null);
    });
  }

  /* --- Forms posted with fetch ------------------------------------------------------------ */

  function clearErrors(form) {
    form.querySelectorAll("[data-errors-for]").forEach(function (box) {
      box.innerHTML = "";
      box.hidden = true;
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
    });
  }

  function showErrors(form, errors) {
    var first = null;
    Object.keys(errors).forEach(function (name) {
      var box = form.querySelector('[data-errors-for="' + name + '"]') ||
        form.querySelector('[data-errors-for="__all__"]');
      if (!box) return;
      errors[name].forEach(function (error) {
        var item = document.createElement(box.tagName === "UL" ? "li" : "p");
        item.textContent = error.message;
        box.appendChild(item);
      });
      box.hidden = false;
      var input = form.elements[name];
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    });
    if (first) first.focus();
  }

  function replaceTasks(html) {
    var box = document.querySelector("[data-tasks]");
    if (box) box.innerHTML = html;
  }

  function failMessage(form) {
    var box = form.querySelector('[data-errors-for="__all__"]');
    var text = document.documentElement.lang === "ru"
      ? "Не получилось отправить. Проверьте связь и попробуйте ещё раз."
      : "Could not send. Check your connection and try again.";
    if (box) {
      box.innerHTML = "";
      var p = document.createElement("p");
      p.textContent = text;
      box.appendChild(p);
      box.hidden = false;
    } else {
      window.alert(text);
    }
  }

  /* Reveal of one masked phone or e-mail: the value replaces the mask in place. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-reveal]") || !window.fetch) return;
    event.preventDefault();
    var item = form.closest("[data-point]");
    var errorBox = form.querySelector("[data-reveal-error]");
    fetch(form.action, {
      method: "POST", body: new FormData(form), headers: JSON_HEADERS, credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) {
        errorBox.textContent = result.data.error || "";
        errorBox.hidden = false;
        return;
      }
      var shown = item.querySelector("[data-point-value]");
      shown.textContent = result.data.value;
      shown.classList.remove("points__value--masked");
      var details = form.closest("details");
      if (details) details.remove();
    }).catch(function () { failMessage(form); });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-async]") || !window.fetch) return;
    event.preventDefault();
    var button = form.querySelector("[type=submit]");
    if (button) {
      if (button.getAttribute("aria-busy") === "true") return;
      button.setAttribute("aria-busy", "true");
    }
    fetch(form.action, {
      method: "POST", body: new FormData(form), headers: JSON_HEADERS, credentials: "same-origin",
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        // A login page, a 403 or 500 page: let the browser show it as usual.
        form.submit();
        return null;
      }
      return response.json().then(function (data) {
        clearErrors(form);
        if (!response.ok) {
          showErrors(form, data.errors || {});
          return;
        }
        if (data.html) insertEntries(data.html);
        if (typeof data.tasks_html === "string") replaceTasks(data.tasks_html);
        if (form.hasAttribute("data-reset")) form.reset();
        // Other scripts (static/js/inbox.js) use what their forms' answers carry.
        form.dispatchEvent(new CustomEvent("crm:submitted", { bubbles: true, detail: data }));
      });
    }).catch(function () {
      failMessage(form);
    }).then(function () {
      if (button) button.removeAttribute("aria-busy");
    });
  });

  /* --- Folded forms ------------------------------------------------------------------------ */

  // `toggle` does not bubble: listened to while it goes down (capture).
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.open || !details.matches || !details.matches("details[data-fold-src]")) return;
    if (details.dataset.foldState || !window.fetch) return;
    var body = details.querySelector("[data-fold-body]");
    details.dataset.foldState = "loading";
    body.setAttribute("aria-busy", "true");
    fetch(details.dataset.foldSrc, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        // A redirect is the login page (the session ended): not a form to show in the fold.
        if (!response.ok || response.redirected) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (html) {
        body.replaceChildren(parse(html));
        details.dataset.foldState = "loaded";
        var first = body.querySelector("input:not([type=hidden]), select, textarea");
        if (first) first.focus();
      })
      .catch(function () {
        delete details.dataset.foldState;  // the link stays; unfolding again tries again
      })
      .then(function () { body.removeAttribute("aria-busy"); });
  }, true);

  /* --- Show older -------------------------------------------------------------------------- */

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-older]");
    if (!link || !window.fetch) return;
    event.preventDefault();
    link.setAttribute("aria-busy", "true");
    fetch(link.dataset.older, { headers: JSON_HEADERS, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        insertEntries(data.html, { append: true });
        if (data.older) {
          link.dataset.older = data.older;
          link.href = link.href.replace(/before=\d+/, "before=" + data.older.split("before=")[1]);
        } else {
          link.parentElement.remove();
        }
      })
      .catch(function () { window.location.href = link.href; })
      .then(function () { link.removeAttribute("aria-busy"); });
  });

  /* --- Live deal card ------------------------------------------------------------------------ */

  function liveDeal(page) {
    var dealId = Number(page.dataset.dealId);
    var entryUrl = page.dataset.entryUrl;  // ends in ".../timeline/0/"
    var timelineUrl = entryUrl.replace(/0\/$/, "");
    var refreshTimer = null;
    var excluded = (page.dataset.feedExcludes || "").split(" ");

    function loadEntry(id) {
      if (document.getElementById("entry-" + id)) return;
      fetch(entryUrl.replace(/0\/$/, id + "/"), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) { if (html) insertEntries(html); });
    }

    // After a reconnect, pick up whatever was added while we were away.
    function catchUp() {
      fetch(timelineUrl, { headers: JSON_HEADERS, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data) insertEntries(data.html); });
    }

    function refresh() {
      window.clearTimeout(refreshTimer);
      refreshTimer = window.setTimeout(function () {
        fetch(window.location.pathname, { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.text() : ""; })
          .then(function (html) {
            if (!html) return;
            var fresh = new DOMParser().parseFromString(html, "text/html");
            document.querySelectorAll("[data-live-refresh][id]").forEach(function (old) {
              // Never pull a form from under the user's fingers.
              if (old.contains(document.activeElement)) return;
              if (old.querySelector("details[open]")) return;
              var replacement = fresh.getElementById(old.id);
              if (replacement) old.replaceWith(document.importNode(replacement, true));
            });
          });
      }, 300);
    }

    openSocket({
      onOpen: function (socket, reconnected) {
        socket.send(JSON.stringify({ subscribe: "deal", id: dealId }));
        if (reconnected) catchUp();
      },
      onEvent: function (message) {
        // The server's own link to the events was down a while: what was missed is fetched.
        if (message.type === "events.resumed") { catchUp(); refresh(); return; }
        if (message.deal !== dealId) return;
        if (message.type === "timeline.entry") {
          // Kinds with a panel of their own (messages) are not repeated in the feed.
          if (excluded.indexOf(message.kind) === -1) loadEntry(message.entry);
        }
        else if (message.type === "deal.changed") refresh();
      },
    });
  }

  /* One websocket to /ws/ that comes back after a network drop (with backoff) and stops
   * when the session is gone (4401). Every event is re-dispatched as a "crm:event" DOM event
   * for the page's other scripts (static/js/inbox.js). */
  /* Logged out elsewhere, suspended or offboarded: the client data leaves the screen with the
   * access, and the page says why (no reload: a broken cookie must not loop). */
  function sessionEnded() {
    var main = document.getElementById("main");
    if (!main) return;
    var notice = document.createElement("div");
    notice.className = "flash__item flash__item--error";
    notice.setAttribute("role", "alert");
    notice.setAttribute("data-session-ended", "");
    notice.textContent = document.body.getAttribute("data-session-ended-text") + " ";
    var link = document.createElement("a");
    link.href = "/login/?next=" + encodeURIComponent(window.location.pathname);
    link.textContent = document.body.getAttribute("data-login-text");
    notice.appendChild(link);
    main.replaceChildren(notice);
  }

  function openSocket(handlers) {
    var delay = 1000;
    var opened = false;

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + "/ws/");
      socket.addEventListener("open", function () {
        delay = 1000;
        if (handlers.onOpen) handlers.onOpen(socket, opened);
        if (opened) {
          // Events may have been missed while away: the page's scripts catch up.
          document.dispatchEvent(new CustomEvent("crm:event", { detail: { type: "socket.reconnected" } }));
        }
        opened = true;
      });
      socket.addEventListener("message", function (event) {
        var message;
        try { message = JSON.parse(event.data); } catch (e) { return; }
        document.dispatchEvent(new CustomEvent("crm:event", { detail: message }));
        if (handlers.onEvent) handlers.onEvent(message);
      });
      socket.addEventListener("close", function (event) {
        if (event.code === 4401) { sessionEnded(); return; }  // logged out: nothing to listen for
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 60000);
      });
    }

    connect();
  }

  ready(function () {
    if (!("WebSocket" in window)) return;
    var page = document.querySelector("[data-deal-id][data-entry-url]");
    if (page) liveDeal(page);
    // Pages that follow only the user's own events (every page: calls.js pops up calls), and
    // the teams a wallboard shows (data-teams="1,2": the server checks each subscription).
    else if (document.querySelector("[data-live-user]")) {
      openSocket({
        onOpen: function (socket) {
          document.querySelectorAll("[data-teams]").forEach(function (element) {
            element.dataset.teams.split(",").filter(Boolean).forEach(function (id) {
              socket.send(JSON.stringify({ subscribe: "team", id: Number(id) }));
            });
          });
        },
      });
    }
  });
})();
