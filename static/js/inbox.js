/* The deal card's conversation panel; everything works without it.
 *
 * Each conversation shows its chat: the newest messages, older pages loaded upward. Events
 * (live.js re-dispatches every websocket event as a "crm:event" DOM event) carry ids only:
 * on a new message, a status change, an edit or a downloaded attachment the chat fetches its
 * newest page through the ordinary, access-checked view and merges it, so text, status badge,
 * error, files and the Retry button always come from the server. Here too:
 * - the composer is a data-async form (posted by live.js); its answer's message goes into
 *   the chat at once, and only the text that was sent leaves the box: whatever was typed
 *   while the post was under way (the next message, a note) stays;
 * - each conversation's state (awaiting whose answer, a reply that failed with its Retry)
 *   comes with every chat refresh, and the conversations list refetches itself;
 * - the Retry button posts with fetch;
 * - the composer: a canned reply fills the text, "private note" relabels the button, "Reply to
 *   this" on a client's message quotes it; past WhatsApp's 24-hour window, a template's
 *   fields show as it is chosen, with a preview of what the client will read;
 * - the assignee looking at the card marks its conversations read.
 */
(function () {
  "use strict";

  var JSON_HEADERS = { Accept: "application/json", "X-Requested-With": "fetch" };

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function parse(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  /* --- The chat: history upward, live merges downward ----------------------------------- */

  function order(li) {
    return [Number(li.dataset.at || 0), Number(li.dataset.chatMessage)];
  }

  function later(a, b) {
    return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
  }

  function scrollToEnd(list) {
    list.scrollTop = list.scrollHeight;
  }

  /* Merge rendered messages into a chat: a shown one is replaced (its status or text
   * changed), a new one goes where its time puts it (normally at the end). */
  function mergeChat(chat, html) {
    var list = chat.querySelector("[data-chat-messages]");
    var atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    var items = Array.prototype.slice.call(parse(html).querySelectorAll("li[data-chat-message]"));
    items.forEach(function (li) {
      var old = document.getElementById(li.id);
      if (old) {
        if (old.innerHTML !== li.innerHTML) old.replaceWith(li);
        return;
      }
      // Opened at an earlier message (a search hit): the newest are behind the "newer"
      // link, not right after the page shown.
      if (chat.querySelector("[data-chat-newer]")) return;
      var key = order(li);
      var next = Array.prototype.find.call(list.querySelectorAll("li[data-chat-message]"),
        function (other) { return later(order(other), key); });
      list.insertBefore(li, next || null);
    });
    if (atEnd) scrollToEnd(list);
    showReplyButtons();
  }

  function replaceState(chat, html) {
    var box = chat.closest("[data-conversation-id]");
    var old = box && box.querySelector("[data-conversation-state]");
    var fresh = parse(html).querySelector("[data-conversation-state]");
    if (old && fresh && old.innerHTML !== fresh.innerHTML) old.replaceWith(fresh);
  }

  var chatTimer = null;
  function refreshChats() {
    window.clearTimeout(chatTimer);
    chatTimer = window.setTimeout(function () {
      document.querySelectorAll("[data-chat]").forEach(function (chat) {
        fetch(chat.dataset.messagesUrl, { headers: JSON_HEADERS, credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (data) {
            if (!data) return;
            mergeChat(chat, data.html);
            if (typeof data.state === "string") replaceState(chat, data.state);
          });
      });
    }, 150);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-chat-older]");
    if (!link || !window.fetch) return;
    event.preventDefault();
    var chat = link.closest("[data-chat]");
    var list = chat.querySelector("[data-chat-messages]");
    link.setAttribute("aria-busy", "true");
    fetch(link.href, { headers: JSON_HEADERS, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (data) {
        // Keep what the user was looking at in place while older messages go on top.
        var height = list.scrollHeight;
        var items = parse(data.html);
        items.querySelectorAll("li[data-chat-message]").forEach(function (li) {
          if (document.getElementById(li.id)) li.remove();
        });
        list.insertBefore(items, list.firstChild);
        list.scrollTop += list.scrollHeight - height;
        showReplyButtons();
        if (data.older) link.href = data.older;
        else link.parentElement.remove();
      })
      .catch(function () { window.location.href = link.href; })
      .then(function () { link.removeAttribute("aria-busy"); });
  });

  // Scrolled up to the top of a chat: its older messages come as if "Load older" was clicked
  // (the card renders one page; the link stays for keyboards and for pages without scripts).
  document.addEventListener("scroll", function (event) {
    var list = event.target;
    if (!list.matches || !list.matches("[data-chat-messages]") || list.scrollTop > 40) return;
    var link = list.closest("[data-chat]").querySelector("a[data-chat-older]");
    if (link && link.getAttribute("aria-busy") !== "true") link.click();
  }, true);

  // What a composer's post carries: the text that leaves the box once the post succeeded.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-composer]")) return;
    var textarea = form.querySelector("textarea[name=text]");
    form.dataset.sentText = textarea ? textarea.value : "";
  }, true);

  /* Clear what was sent and nothing else: the composer stays usable while the post is under
   * way, and a note typed meanwhile (after the text, or instead of it) is kept. */
  function clearSent(form) {
    var textarea = form.querySelector("textarea[name=text]");
    var sent = form.dataset.sentText || "";
    delete form.dataset.sentText;
    if (!textarea || textarea.value === sent) {
      form.reset();
      return;
    }
    if (sent && textarea.value.indexOf(sent) === 0) {
      textarea.value = textarea.value.slice(sent.length).replace(/^\s+/, "");
    }
    var file = form.querySelector("input[type=file]");
    if (file) file.value = "";
    setReplyTo(form, "", "");
  }

  // A reply or a note just posted: into its chat at once, before the websocket says so.
  document.addEventListener("crm:submitted", function (event) {
    var data = event.detail || {};
    var form = event.target;
    if (form.matches && form.matches("form[data-composer]")) clearSent(form);
    var box = form.closest && form.closest("[data-conversation-id]");
    var chat = box && box.querySelector("[data-chat]");
    if (chat && data.chat_html) mergeChat(chat, data.chat_html);
  });

  /* --- Read marks ----------------------------------------------------------------------- */

  // `always`: a message just arrived while the card is open, so there is something to mark
  // even though the page's badge (rendered before it came) says nothing.
  function markRead(always) {
    if (document.visibilityState !== "visible") return;
    document.querySelectorAll("[data-read-url]").forEach(function (box) {
      var badge = box.querySelector("[data-conversation-unread]");
      if (!badge && always !== true) return;
      var body = new FormData();
      body.append("csrfmiddlewaretoken", csrfToken());
      fetch(box.dataset.readUrl, {
        method: "POST", body: body, headers: JSON_HEADERS, credentials: "same-origin",
      }).then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) return;
          if (badge) badge.remove();
          var nav = document.querySelector("[data-unread-badge]");
          if (nav && !data.unread_conversations) nav.remove();
          else if (nav) nav.firstChild.nodeValue = String(data.unread_conversations);
        });
    });
  }

  var arrivedWhileHidden = false;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    markRead(arrivedWhileHidden);
    arrivedWhileHidden = false;
  });

  /* --- The composer ------------------------------------------------------------------------ */

  function composerFor(conversationId) {
    return document.querySelector(
      '[data-conversation-id="' + conversationId + '"] form[data-composer]');
  }

  function setReplyTo(form, messageId, quote) {
    form.querySelector("[data-reply-to]").value = messageId || "";
    var box = form.querySelector("[data-reply-quote]");
    box.querySelector("[data-reply-quote-text]").textContent = quote || "";
    box.hidden = !messageId;
  }

  // "Reply to this" shows only where there is a composer to reply from.
  function showReplyButtons() {
    document.querySelectorAll("[data-reply-button]").forEach(function (button) {
      var entry = button.closest("[data-message-id]");
      button.hidden = !composerFor(entry.dataset.conversationId);
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) return;
    var reply = target.closest("[data-reply-button]");
    if (reply) {
      var entry = reply.closest("[data-message-id]");
      var form = composerFor(entry.dataset.conversationId);
      if (!form) return;
      var text = entry.querySelector("[data-message-text]");
      var quote = text ? text.textContent.trim() : "";
      setReplyTo(form, entry.dataset.messageId, quote.length > 120 ? quote.slice(0, 119) + "…" : quote);
      form.querySelector("textarea").focus();
      return;
    }
    var cancel = target.closest("[data-reply-cancel]");
    if (cancel) setReplyTo(cancel.closest("form"), "", "");
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-canned]")) {
      var option = target.selectedOptions[0];
      var textarea = target.form.querySelector("textarea[name=text]");
      if (option && option.dataset.text && textarea) {
        textarea.value = option.dataset.text;
        textarea.focus();
      }
      target.value = "";
    } else if (target.matches && target.matches("input[data-private]")) {
      var form = target.form;
      var button = form.querySelector("[data-send-label]");
      button.textContent = target.checked ? button.dataset.noteLabel : button.dataset.sendLabel;
      form.classList.toggle("composer--private", target.checked);
    }
  });

  // After a successful post the form is reset (data-reset): clear the quote and the label.
  document.addEventListener("reset", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-composer]")) return;
    window.setTimeout(function () {
      setReplyTo(form, "", "");
      var button = form.querySelector("[data-send-label]");
      button.textContent = button.dataset.sendLabel;
      form.classList.remove("composer--private");
    });
  });

  /* --- WhatsApp past its window: a template, its fields, and what the client will read ----- */

  function showTemplate(form) {
    var select = form.querySelector("[data-template-select]");
    if (!select) return;
    var option = select.options[select.selectedIndex];
    var count = option && option.value ? Number(option.dataset.parameters || 0) : 0;
    var values = [];
    form.querySelectorAll("[data-template-field]").forEach(function (label) {
      var number = Number(label.dataset.templateField);
      var input = label.querySelector("input");
      label.hidden = number > count;
      input.disabled = number > count;
      input.required = number <= count;
      values[number] = input.value;
    });
    var preview = form.querySelector("[data-template-preview]");
    if (!option || !option.value) {
      preview.hidden = true;
      return;
    }
    // Text only (textContent): the placeholders are filled in, nothing is parsed as HTML.
    preview.textContent = option.dataset.body.replace(/\{\{\s*(\d{1,2})\s*\}\}/g,
      function (whole, number) { return values[Number(number)] || whole; });
    preview.hidden = false;
  }

  ["change", "input"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var form = event.target.closest && event.target.closest("form[data-template-composer]");
      if (form) showTemplate(form);
    });
  });
  document.addEventListener("reset", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-template-composer]")) {
      window.setTimeout(function () { showTemplate(form); });
    }
  });

  /* --- Live events and Retry ---------------------------------------------------------------- */

  /* --- The conversations list: a client's new message re-renders it (unanswered first) --- */

  var listTimer = null;
  function refreshList() {
    window.clearTimeout(listTimer);
    listTimer = window.setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (!html) return;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          ["conversation-list"].forEach(function (id) {
            var old = document.getElementById(id);
            var replacement = fresh.getElementById(id);
            if (old && replacement) old.replaceWith(document.importNode(replacement, true));
          });
          var badge = document.querySelector("[data-unread-badge]");
          var freshBadge = fresh.querySelector("[data-unread-badge]");
          if (badge && !freshBadge) badge.remove();
          else if (freshBadge) {
            var link = document.querySelector('a[href="' + freshBadge.parentNode.getAttribute("href") + '"]');
            if (badge) badge.replaceWith(document.importNode(freshBadge, true));
            else if (link) link.appendChild(document.importNode(freshBadge, true));
          }
        });
    }, 300);
  }

  document.addEventListener("crm:event", function (event) {
    var message = event.detail || {};
    if ((message.type === "conversation.updated" || message.type === "events.resumed" ||
         message.type === "socket.reconnected") && document.getElementById("conversation-list")) {
      refreshList();
      return;
    }
    if (message.type === "message.status" || message.type === "message.edited" ||
        message.type === "message.attachment" || message.type === "socket.reconnected" ||
        message.type === "events.resumed") {
      refreshChats();
    } else if (message.type === "timeline.entry" && message.kind === "message") {
      refreshChats();
      if (document.visibilityState === "visible") markRead(true);
      else arrivedWhileHidden = true;
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-message-retry]") || !window.fetch) return;
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
      if (type.indexOf("application/json") === -1) { form.submit(); return; }
      if (button) button.removeAttribute("aria-busy");
      refreshChats();
      if (document.getElementById("conversation-list")) refreshList();
    }).catch(function () { form.submit(); });
  });

  function start() {
    document.querySelectorAll("[data-chat-messages]").forEach(function (list) {
      // The card opened at a message (#message-<id>, a search hit): that one in view.
      var target = location.hash.indexOf("#message-") === 0 &&
        document.getElementById(location.hash.slice(1));
      if (target && list.contains(target)) {
        target.classList.add("chat__item--found");
        target.scrollIntoView({block: "center"});
      } else {
        scrollToEnd(list);
      }
    });
    document.querySelectorAll("form[data-template-composer]").forEach(showTemplate);
    showReplyButtons();
    markRead();
  }
  if (document.readyState !== "loading") start();
  else document.addEventListener("DOMContentLoaded", start);
})();
