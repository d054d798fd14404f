/* Keyboard shortcuts, listed on the help opened with `?` (templates/_live_signals.html):
 * - Ctrl+Enter (Cmd+Enter on a Mac) in a text box sends its form (the reply or the note):
 *   the form is submitted as by its button, so static/js/live.js posts it with fetch;
 * - U goes to the client who has waited longest for the user's answer (the server picks:
 *   /conversations/next/, skipping the deal on screen);
 * - Esc closes the help, an open pop-up form (a <details>) the focus is in, and the notices;
 * - ? shows the help.
 * Letters act only when the user is not typing; keys are read by their place (event.code),
 * so they work in the Russian layout too.
 */
(function () {
  "use strict";

  var root = document.querySelector("[data-live-signals]");
  var help = document.querySelector("[data-shortcuts-help]");

  function typing(target) {
    return target && target.closest && (target.isContentEditable ||
      target.closest("input, textarea, select, [contenteditable]"));
  }

  function openHelp() {
    if (!help || help.open) return;
    if (typeof help.showModal === "function") help.showModal();
    else help.setAttribute("open", "");
  }

  function nextUnanswered() {
    if (!root || !root.dataset.nextUnansweredUrl) return;
    var url = root.dataset.nextUnansweredUrl;
    var page = document.querySelector("[data-deal-id][data-entry-url]");
    if (page) url += "?after=" + encodeURIComponent(page.dataset.dealId);
    window.location.href = url;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;

    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var box = event.target.closest && event.target.closest("textarea");
      var form = box && box.form;
      if (!form) return;
      event.preventDefault();
      var button = form.querySelector("[type=submit]");
      if (button && (button.disabled || button.getAttribute("aria-busy") === "true")) return;
      if (typeof form.requestSubmit === "function") form.requestSubmit(button || undefined);
      else if (button) button.click();
      return;
    }

    if (event.key === "Escape") {
      var details = event.target.closest && event.target.closest("details[open]");
      if (details) {
        details.open = false;
        var summary = details.querySelector("summary");
        if (summary) summary.focus();
        event.preventDefault();
      }
      return;  // the help <dialog> closes itself on Esc; notify.js closes the notices
    }

    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (help && help.open) return;

    if (event.key === "?" || (event.code === "Slash" && event.shiftKey)) {
      event.preventDefault();
      openHelp();
    } else if (event.code === "KeyU" && !event.shiftKey) {
      event.preventDefault();
      nextUnanswered();
    }
  });
})();
