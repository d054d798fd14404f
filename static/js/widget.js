/* The website chat widget, served by the CRM at /widget/<public key>.js with the channel's
 * settings in place of the placeholder at the bottom (inbox/widget.py).
 *
 * A button opens a chat window in a shadow root (the host site's styles do not reach it).
 * Messages post to the CRM with an id chosen here, so a retry is never a second message; the
 * first answer carries the visitor's token, kept in localStorage and sent in the first
 * websocket message (never in a URL). Replies arrive over the websocket and, after a
 * reconnection, from the history. Every text is put in with textContent: what a visitor or a
 * manager types is never HTML.
 */
(function (config) {
  "use strict";

  if (!config || !config.key || window["crmWidget_" + config.key]) return;
  window["crmWidget_" + config.key] = true;

  var S = config.strings || {};
  // The host page's Content-Security-Policy may allow only nonce'd styles: the widget's own
  // take the nonce of the <script> tag that loaded it (read now: it is gone once this ends).
  var NONCE = (document.currentScript && document.currentScript.nonce) || "";
  var STORE = "crm-widget:" + config.key;
  var state = load();
  var shown = Object.create(null);
  var socket = null;
  var retryDelay = 1000;
  var ui = {};

  function load() {
    try { return JSON.parse(window.localStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
  }

  function save() {
    try { window.localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private */ }
  }

  function uuid4() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); });
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" +
      h.slice(6, 8).join("") + "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  var CSS = [
    ":host { all: initial; }",
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;",
    "  border: 0; border-radius: 24px; padding: 12px 18px; background: #2563eb; color: #fff;",
    "  font: 600 15px/1.2 system-ui, sans-serif; cursor: pointer;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.2); }",
    ".panel { position: fixed; right: 20px; bottom: 20px; z-index: 2147483001; width: 340px;",
    "  max-width: calc(100vw - 40px); height: 460px; max-height: calc(100vh - 40px);",
    "  display: flex; flex-direction: column; background: #fff; color: #111;",
    "  border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25); overflow: hidden;",
    "  font: 14px/1.4 system-ui, sans-serif; }",
    ".panel[hidden], .launcher[hidden], .name[hidden], .error[hidden] { display: none; }",
    ".head { display: flex; align-items: center; justify-content: space-between;",
    "  padding: 10px 14px; background: #2563eb; color: #fff; font-weight: 600; }",
    ".head button { border: 0; background: transparent; color: #fff; font-size: 20px;",
    "  cursor: pointer; line-height: 1; }",
    ".log { flex: 1; overflow-y: auto; padding: 12px; margin: 0; list-style: none;",
    "  background: #f5f6f8; }",
    ".msg { max-width: 80%; margin: 0 0 8px; padding: 8px 10px; border-radius: 10px;",
    "  white-space: pre-wrap; word-wrap: break-word; }",
    ".msg small { display: block; font-size: 11px; opacity: .7; margin-bottom: 2px; }",
    ".msg--in { margin-left: auto; background: #dbeafe; }",
    ".msg--out { margin-right: auto; background: #fff; border: 1px solid #e5e7eb; }",
    ".msg--hint { max-width: none; background: transparent; color: #555; padding: 0 0 8px; }",
    ".msg--pending { opacity: .6; }",
    "form { display: flex; flex-direction: column; gap: 6px; padding: 10px;",
    "  border-top: 1px solid #e5e7eb; }",
    "input, textarea { font: inherit; padding: 6px 8px; border: 1px solid #cbd5e1;",
    "  border-radius: 6px; }",
    "textarea { resize: none; height: 54px; }",
    ".send { align-self: flex-end; border: 0; border-radius: 6px; padding: 6px 14px;",
    "  background: #2563eb; color: #fff; font: inherit; cursor: pointer; }",
    ".error { color: #b91c1c; font-size: 12px; }",
  ].join("\n");

  /* A constructed style sheet is not inline markup, so no Content-Security-Policy of the host
   * page refuses it; browsers without them get a <style> with the script's nonce. */
  function addStyles(root) {
    if ("adoptedStyleSheets" in root && window.CSSStyleSheet) {
      try {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
        return;
      } catch (e) { /* constructable style sheets unsupported: fall back below */ }
    }
    var style = el("style");
    if (NONCE) style.nonce = NONCE;
    style.textContent = CSS;
    root.appendChild(style);
  }

  function build() {
    var host = el("div");
    host.setAttribute("data-crm-widget", config.key);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    addStyles(root);

    ui.launcher = el("button", "launcher", S.open || "Chat");
    ui.launcher.type = "button";
    ui.panel = el("section", "panel");
    ui.panel.hidden = true;
    ui.panel.setAttribute("role", "dialog");
    ui.panel.setAttribute("aria-label", config.title || S.title || "");
    var head = el("div", "head");
    head.appendChild(el("span", "", config.title || S.title || ""));
    var close = el("button", "", "×");
    close.type = "button";
    close.setAttribute("aria-label", S.close || "Close");
    head.appendChild(close);
    ui.log = el("ol", "log");
    ui.log.setAttribute("aria-live", "polite");
    ui.log.appendChild(el("li", "msg msg--hint", S.greeting || ""));
    ui.form = el("form");
    ui.name = el("input", "name");
    ui.name.name = "name";
    ui.name.maxLength = 100;
    ui.name.placeholder = S.name || "";
    ui.name.hidden = Boolean(state.token);
    ui.name.value = state.name || "";
    ui.text = el("textarea");
    ui.text.name = "text";
    ui.text.maxLength = config.text_limit || 4096;
    ui.text.placeholder = S.placeholder || "";
    ui.text.required = true;
    ui.error = el("div", "error");
    ui.error.hidden = true;
    ui.error.setAttribute("role", "alert");
    var send = el("button", "send", S.send || "Send");
    send.type = "submit";
    ui.form.appendChild(ui.name);
    ui.form.appendChild(ui.text);
    ui.form.appendChild(ui.error);
    ui.form.appendChild(send);
    ui.panel.appendChild(head);
    ui.panel.appendChild(ui.log);
    ui.panel.appendChild(ui.form);
    root.appendChild(ui.launcher);
    root.appendChild(ui.panel);
    document.body.appendChild(host);

    ui.launcher.addEventListener("click", open);
    close.addEventListener("click", function () {
      ui.panel.hidden = true;
      ui.launcher.hidden = false;
    });
    ui.form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit();
    });
    ui.text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        submit();
      }
    });
  }

  function open() {
    ui.panel.hidden = false;
    ui.launcher.hidden = true;
    ui.text.focus();
    if (state.token) {
      loadHistory();
      connect();
    }
  }

  function showError(text) {
    ui.error.textContent = text || "";
    ui.error.hidden = !text;
  }

  /* Show one message once (by id); `pending` marks what is still on its way. */
  function show(message, pending) {
    var item = shown[message.id];
    if (!item) {
      item = el("li", "msg msg--" + (message.direction === "in" ? "in" : "out"));
      item.appendChild(el("small", "", message.direction === "in" ? S.you : S.manager));
      item.appendChild(el("span", "", message.text));
      shown[message.id] = item;
      ui.log.appendChild(item);
    }
    item.classList.toggle("msg--pending", Boolean(pending));
    ui.log.scrollTop = ui.log.scrollHeight;
    return item;
  }

  function request(method, body) {
    var headers = { Accept: "application/json" };
    if (body) headers["Content-Type"] = "application/json";
    if (method === "GET" && state.token) headers.Authorization = "Bearer " + state.token;
    return fetch(config.messages_url, {
      method: method, headers: headers, credentials: "omit", mode: "cors",
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  function forgetToken() {
    state = { name: state.name };
    save();
  }

  function loadHistory() {
    request("GET").then(function (answer) {
      if (answer.status === 403 && answer.data.error === "unknown_token") forgetToken();
      (answer.data.messages || []).forEach(function (m) { show(m, false); });
    }).catch(function () { /* the socket or the next opening tries again */ });
  }

  function submit() {
    var text = ui.text.value.trim();
    if (!text) return;
    var name = ui.name.value.trim();
    if (name) state.name = name;
    var message = { id: uuid4(), text: text, direction: "in" };
    ui.text.value = "";
    showError("");
    show(message, true);
    post(message, 0);
  }

  function post(message, attempt) {
    var body = { id: message.id, text: message.text };
    if (state.token) body.token = state.token;
    if (state.name) body.name = state.name;
    request("POST", body).then(function (answer) {
      if (answer.status === 200 || answer.status === 202) {
        if (!state.token) {
          state.token = answer.data.token;
          ui.name.hidden = true;
          connect();
        }
        save();
        show(message, false);
        return;
      }
      if (answer.status === 403 && answer.data.error === "unknown_token") {
        forgetToken();
        return post(message, attempt + 1);
      }
      fail(message, answer.status === 429 ? S.rate_limited : (answer.data.detail || S.failed));
    }).catch(function () {
      // No answer: the same id again is safe (the server keeps one copy).
      if (attempt < 3) {
        window.setTimeout(function () { post(message, attempt + 1); }, 1000 * (attempt + 1));
      } else {
        fail(message, S.failed);
      }
    });
  }

  function fail(message, reason) {
    var item = shown[message.id];
    if (item) item.remove();
    delete shown[message.id];
    if (!ui.text.value) ui.text.value = message.text;
    showError(reason);
  }

  function connect() {
    if (!state.token || !window.WebSocket || socket) return;
    socket = new WebSocket(config.socket_url);
    socket.onopen = function () {
      socket.send(JSON.stringify({ token: state.token }));
    };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "ready") {
        retryDelay = 1000;
        loadHistory(); // anything sent while this widget was away
      } else if (data.type === "message" && data.message) {
        show(data.message, false);
      }
    };
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 4403) { forgetToken(); return; }
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }

  function start() {
    build();
    if (state.token) connect();
    window.crmWidget = window.crmWidget || {};
    window.crmWidget[config.key] = { open: open };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(/*CRM_WIDGET_CONFIG*/{});
