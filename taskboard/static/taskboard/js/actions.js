// Launch dialog, task actions and the traceback copy button (see docs/architecture.md).
// Everything here is an enhancement: without it, links and forms do full-page requests.
(function () {
  "use strict";
  if (window.taskboardActions) return; // included by several partials
  window.taskboardActions = true;

  var ROWS_HEADER = "X-Taskboard-Rows";
  // Statuses whose body is a useful fragment: a refused form (422), an action that no
  // longer applies (409), a launch over the rate limit (429), a broker that is down
  // (503). htmx 2 swaps none of them by default.
  var SWAPPABLE = [409, 422, 429, 503];

  function dialog() {
    return document.getElementById("launch-dialog");
  }

  function focusFirstField(root) {
    var field = root.querySelector(
      "#launch-form input:not([type=hidden]), #launch-form select, #launch-form textarea"
    );
    if (field) {
      field.focus();
      if (field.select) field.select();
    }
  }

  function openLaunchDialog() {
    var box = dialog();
    if (!box || !window.htmx) return false;
    var body = document.getElementById("launch-dialog-body");
    // Never show (or let anyone click) the previous launch's picker while the fresh one loads.
    body.innerHTML = '<p class="muted">Loading…</p>';
    if (!box.open) box.showModal();
    htmx.ajax("GET", body.dataset.src, { target: body, swap: "innerHTML" });
    return true;
  }

  document.addEventListener("click", function (evt) {
    var opener = evt.target.closest("[data-launch-open]");
    if (opener && openLaunchDialog()) {
      evt.preventDefault();
      return;
    }
    var pick = evt.target.closest(".picker-item");
    if (pick) {
      document.querySelectorAll(".picker-item").forEach(function (item) {
        item.classList.toggle("selected", item === pick);
        if (item === pick) item.setAttribute("aria-current", "true");
        else item.removeAttribute("aria-current");
      });
    }
    var copy = evt.target.closest("[data-copy]");
    if (copy) copyText(copy);
  });

  // The dialog's task list moves with the arrow keys and j/k (Enter opens the task's
  // form, as a click does); in the form's fields those keys type as usual.
  var PICKER_STEPS = { ArrowDown: 1, ArrowRight: 1, j: 1, ArrowUp: -1, ArrowLeft: -1, k: -1 };
  document.addEventListener("keydown", function (evt) {
    var step = PICKER_STEPS[evt.key];
    var current = evt.target.closest && evt.target.closest(".picker-item");
    if (!step || !current || evt.ctrlKey || evt.metaKey || evt.altKey) return;
    var items = Array.prototype.slice.call(document.querySelectorAll(".picker-item"));
    var next = items[items.indexOf(current) + step];
    if (next) next.focus();
    evt.preventDefault();
  });

  document.addEventListener("htmx:configRequest", function (evt) {
    // Only a page with the task table can take the new row; elsewhere the
    // server answers with a redirect to the new task's page.
    var box = dialog();
    if (box && box.contains(evt.detail.elt) && document.getElementById("task-rows")) {
      evt.detail.headers[ROWS_HEADER] = "1";
    }
  });

  document.addEventListener("htmx:beforeSwap", function (evt) {
    // detail.elt is the swap target here; the element that sent the request is in requestConfig.
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (SWAPPABLE.indexOf(evt.detail.xhr.status) !== -1 && elt && elt.closest("[data-swap-errors]")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var box = dialog();
    var target = evt.detail.target;
    // The form pane is swapped outerHTML: by now the target it names is detached.
    if (box && box.open && (box.contains(target) || target.id === "launch-form-pane")) {
      focusFirstField(box);
      var invalid = box.querySelector("[aria-invalid=true]");
      if (invalid) invalid.focus();
    }
    showCopyButtons(evt.detail.target);
  });

  document.addEventListener("taskboard:launched", function (evt) {
    var box = dialog();
    if (box && box.open) box.close();
    if (evt.detail && evt.detail.notice) showNotice(evt.detail.notice);
  });

  // The same message list as the page after a full-page launch (taskboard/templates/taskboard/layout.html).
  function showNotice(text) {
    var main = document.getElementById("main");
    if (!main) return;
    var list = main.querySelector(":scope > .messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.setAttribute("role", "status");
      main.insertBefore(list, main.firstChild);
    }
    var item = document.createElement("li");
    item.className = "msg-success";
    item.textContent = text;
    list.replaceChildren(item);
  }

  // The copy buttons are hidden until this script can make them work.
  function showCopyButtons(root) {
    (root || document).querySelectorAll("[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function copyText(button) {
    var source = document.querySelector(button.dataset.copy);
    if (!source) return;
    var text = source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
    } else {
      // Plain http on another host has no clipboard API: select it for Ctrl+C.
      selectText(source);
    }
  }

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { showCopyButtons(document); });
  } else {
    showCopyButtons(document);
  }
})();
