/* Kanban: drag a card to another column, or pick the stage on the card and press "Move"
 * (the keyboard and no-JS way; without JS the form posts and the page reloads). Both post to
 * /deals/<id>/move/ with the card form's CSRF token; on failure the card goes back. */
(function () {
  "use strict";

  var board = document.querySelector("[data-board]");
  if (!board || !window.fetch) return;
  var status = document.querySelector("[data-board-status]");
  var SYMBOLS = { RUB: "₽", USD: "$", EUR: "€", CNY: "¥" };
  var lang = document.documentElement.lang || "ru";
  var dragged = null;
  var origin = null;

  function announce(text) {
    if (status) status.textContent = text;
  }

  function column(stageId) {
    return board.querySelector('[data-stage-id="' + stageId + '"]');
  }

  // A column shows the most active cards only; the server tells what the rest add up to.
  function recount() {
    board.querySelectorAll("[data-stage-id]").forEach(function (col) {
      var cards = col.querySelectorAll(".dealcard");
      var hiddenCount = Number(col.dataset.hiddenCount || 0);
      col.querySelector("[data-count]").textContent = String(cards.length + hiddenCount);
      var totals = {};
      var hidden = JSON.parse(col.dataset.hiddenTotals || "{}");
      Object.keys(hidden).forEach(function (currency) {
        totals[currency] = Number(hidden[currency]);
      });
      cards.forEach(function (card) {
        var currency = card.dataset.currency;
        totals[currency] = (totals[currency] || 0) + Number(card.dataset.amount || 0);
      });
      var parts = Object.keys(totals).sort().map(function (currency) {
        var number = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 }).format(totals[currency]);
        return number + "\u00a0" + (SYMBOLS[currency] || currency);
      });
      col.querySelector(".board__total").textContent = parts.join(" · ") || "\u00a0";
    });
  }

  function place(card, stageId) {
    var zone = column(stageId).querySelector("[data-dropzone]");
    zone.insertBefore(card, zone.firstElementChild);
  }

  function move(card, stageId, revert) {
    var form = card.querySelector("form");
    var data = new FormData(form);
    data.set("stage", stageId);
    card.classList.add("is-saving");
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" },
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      form.elements.stage.value = stageId;
      var name = column(stageId).querySelector("h2").textContent;
      announce(card.querySelector(".dealcard__title").textContent + " → " + name);
    }).catch(function () {
      revert();
      form.elements.stage.value = card.closest("[data-stage-id]").dataset.stageId;
      announce(lang === "ru" ? "Не удалось переместить сделку." : "Could not move the deal.");
      card.classList.add("is-error");
    }).then(function () {
      card.classList.remove("is-saving");
      recount();
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".dealcard[draggable]");
    if (!card) return;
    dragged = card;
    origin = { zone: card.parentElement, next: card.nextElementSibling };
    card.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.dealId);
  });

  board.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("is-dragging");
    board.querySelectorAll(".is-over").forEach(function (zone) { zone.classList.remove("is-over"); });
    dragged = null;
  });

  board.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("[data-stage-id]");
    if (!zone || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    var cards = zone.querySelector("[data-dropzone]");
    board.querySelectorAll(".is-over").forEach(function (other) {
      if (other !== cards) other.classList.remove("is-over");
    });
    cards.classList.add("is-over");
  });

  board.addEventListener("drop", function (event) {
    var col = event.target.closest && event.target.closest("[data-stage-id]");
    if (!col || !dragged) return;
    event.preventDefault();
    var card = dragged;
    var from = origin;
    col.querySelector("[data-dropzone]").classList.remove("is-over");
    if (col.querySelector("[data-dropzone]") === from.zone) return;
    place(card, col.dataset.stageId);
    recount();
    move(card, col.dataset.stageId, function () { from.zone.insertBefore(card, from.next); });
  });

  // The stage picker on each card: same move, without a reload; focus stays on the picker.
  board.addEventListener("submit", function (event) {
    var form = event.target;
    var card = form.closest(".dealcard");
    if (!card) return;
    event.preventDefault();
    var stageId = form.elements.stage.value;
    var from = { zone: card.parentElement, next: card.nextElementSibling };
    if (column(stageId).querySelector("[data-dropzone]") === from.zone) return;
    place(card, stageId);
    form.elements.stage.focus();
    move(card, stageId, function () { from.zone.insertBefore(card, from.next); });
  });
})();
