/* The live wallboard (/team/live/): the page's socket (static/js/live.js) subscribes to the
 * teams the board shows; whenever one of them changes (a client writes, a reply goes, a phone
 * rings or hangs up) the board fetches itself again (?board=1, the same access-checked view)
 * and replaces its tiles. Once a minute it does anyway, so the waits it shows keep growing. */
(function () {
  "use strict";

  var board = document.querySelector("[data-wallboard]");
  if (!board) return;
  var timer = null;

  function refresh() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      var url = new URL(window.location.href);
      url.searchParams.set("board", "1");
      fetch(url.toString(), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (!html) return;
          board.innerHTML = html;
          board.dispatchEvent(new CustomEvent("wallboard:refreshed", { bubbles: true }));
        });
    }, 250);
  }

  document.addEventListener("crm:event", function (event) {
    var type = event.detail && event.detail.type;
    if (type === "wallboard.changed" || type === "socket.reconnected" || type === "events.resumed") {
      refresh();
    }
  });
  window.setInterval(refresh, 60000);
})();
