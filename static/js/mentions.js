/* @mentions in notes and private notes: typing "@" and a few letters in a note offers the
 * colleagues who see the deal (asked of [data-mention-candidates]'s URL the first time "@"
 * is typed, not put in every card; the server checks again when the note is saved and
 * refuses anyone else). Arrows choose, Enter
 * or Tab inserts "@username ", Esc closes the list. In the conversation's composer the list
 * is offered only for a private note: a reply goes to the client. */
(function () {
  "use strict";

  var source = document.querySelector("[data-mention-candidates]");
  if (!source) return;
  var people = null;     // [{username, name}] once asked
  var asking = null;

  function ask() {
    if (!asking) {
      asking = fetch(source.getAttribute("data-mention-candidates"), {
        credentials: "same-origin", headers: { Accept: "application/json" },
      }).then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      }).then(function (data) {
        people = data.candidates;
      }).catch(function () {
        asking = null;  // asked again at the next "@"
      });
    }
    return asking;
  }

  var list = document.createElement("ul");
  list.id = "mention-suggestions";
  list.className = "mention-list";
  list.setAttribute("role", "listbox");
  list.hidden = true;
  document.body.appendChild(list);

  var box = null;        // the textarea being typed in
  var start = -1;        // where its "@" is
  var active = 0;
  var shown = [];

  function eligible(textarea) {
    var form = textarea.form;
    if (!form || textarea.name !== "text" || !form.classList.contains("composer")) return false;
    var privateBox = form.querySelector("[data-private]");
    return !privateBox || privateBox.checked;
  }

  function query(textarea) {
    var before = textarea.value.slice(0, textarea.selectionStart);
    var match = /(^|[^\w.@])@([\w.+-]*)$/.exec(before);
    if (!match) return null;
    return { at: before.length - match[2].length - 1, text: match[2].toLowerCase() };
  }

  function hide() {
    list.hidden = true;
    shown = [];
    if (box) {
      box.removeAttribute("aria-activedescendant");
      box.setAttribute("aria-expanded", "false");
    }
  }

  function render() {
    list.replaceChildren();
    shown.forEach(function (person, i) {
      var item = document.createElement("li");
      item.id = "mention-option-" + i;
      item.setAttribute("role", "option");
      item.setAttribute("aria-selected", i === active ? "true" : "false");
      item.dataset.username = person.username;
      var name = document.createElement("span");
      name.textContent = person.name;
      var handle = document.createElement("span");
      handle.className = "muted";
      handle.textContent = " @" + person.username;
      item.appendChild(name);
      item.appendChild(handle);
      list.appendChild(item);
    });
    var rect = box.getBoundingClientRect();
    list.style.left = (rect.left + window.scrollX) + "px";
    list.style.top = (rect.bottom + window.scrollY + 4) + "px";
    list.style.minWidth = Math.min(rect.width, 320) + "px";
    list.hidden = false;
    box.setAttribute("aria-expanded", "true");
    box.setAttribute("aria-activedescendant", "mention-option-" + active);
  }

  function update(textarea) {
    var found = eligible(textarea) ? query(textarea) : null;
    if (!found) { hide(); return; }
    if (people === null) {
      ask().then(function () { if (people !== null) update(textarea); });
      return;
    }
    box = textarea;
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", list.id);
    start = found.at;
    shown = people.filter(function (person) {
      return person.username.toLowerCase().indexOf(found.text) === 0 ||
        person.name.toLowerCase().split(/\s+/).some(function (word) { return word.indexOf(found.text) === 0; });
    }).slice(0, 8);
    active = 0;
    if (!shown.length) { hide(); return; }
    render();
  }

  function pick(person) {
    var end = box.selectionStart;
    var inserted = "@" + person.username + " ";
    box.value = box.value.slice(0, start) + inserted + box.value.slice(end);
    var caret = start + inserted.length;
    box.setSelectionRange(caret, caret);
    hide();
    box.focus();
  }

  document.addEventListener("input", function (event) {
    if (event.target.tagName === "TEXTAREA") update(event.target);
  });

  document.addEventListener("keydown", function (event) {
    if (list.hidden || event.target !== box) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
      render();
    } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
      pick(shown[active]);
    } else if (event.key === "Escape") {
      hide();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);

  list.addEventListener("mousedown", function (event) {
    var item = event.target.closest("li[data-username]");
    if (!item) return;
    event.preventDefault();  // keep the focus in the text box
    pick(shown[Number(item.id.replace("mention-option-", ""))]);
  });

  document.addEventListener("focusout", function (event) {
    if (event.target === box) window.setTimeout(function () {
      if (document.activeElement !== box) hide();
    }, 100);
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-private]")) hide();
  });
})();
