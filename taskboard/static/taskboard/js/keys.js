// Keyboard shortcuts. The list is taskboard/keymap.py: the ? overlay is drawn from it and
// the README's "Keys" line matches it (tests/views/test_keymap.py). Every action is also a
// visible link or button; the keys only find that element and click it, so htmx, the
// confirmation dialog and the no-JS fallbacks behave the same as with the mouse.
(function () {
  "use strict";
  // Styles may hide what only a page without JavaScript needs (the Filter button).
  document.documentElement.classList.add("js");
  var focusedId = null;

  function typing(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function shown(el) {
    return !!el && el.getClientRects().length > 0;
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#task-rows tr.task-row"));
  }

  function announce(text) {
    var region = document.getElementById("kbd-status");
    if (region) region.textContent = text;
  }

  function describe(row) {
    var name = row.querySelector("[data-row-link]");
    var badge = row.querySelector(".badge");
    return (name ? name.textContent.trim() : "task") + ", " + (badge ? badge.textContent.trim() : "");
  }

  function markCurrent(row) {
    document.querySelectorAll("#task-rows tr[aria-current]").forEach(function (other) {
      if (other !== row) other.removeAttribute("aria-current");
    });
    if (row) row.setAttribute("aria-current", "true");
  }

  function focusRow(row) {
    focusedId = row.id;
    markCurrent(row);
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    var list = rows();
    announce("Row " + (list.indexOf(row) + 1) + " of " + list.length + ": " + describe(row));
  }

  function focusedRow() {
    var row = focusedId && document.getElementById(focusedId);
    return row && row.matches("tr.task-row") ? row : null;
  }

  function move(step) {
    var list = rows();
    if (!list.length) return;
    var index = list.indexOf(focusedRow());
    index = index === -1 ? (step > 0 ? 0 : list.length - 1) : index + step;
    focusRow(list[Math.max(0, Math.min(list.length - 1, index))]);
  }

  function clickable(selector, scope) {
    var found = (scope || document).querySelectorAll(selector);
    for (var i = 0; i < found.length; i++) {
      if (shown(found[i]) && !found[i].disabled) return found[i];
    }
    return null;
  }

  function pressKey(key) {
    var selector = '[data-key="' + key + '"]';
    var row = focusedRow();
    var target = row ? clickable(selector, row) : null;
    if (!target) {
      // The page's own button (the detail page's Retry/Cancel), never a random row's.
      var all = document.querySelectorAll(selector);
      for (var i = 0; i < all.length && !target; i++) {
        if (!all[i].closest("tr.task-row") && shown(all[i])) target = all[i];
      }
    }
    if (target) clickWhenBound(target);
    return !!target;
  }

  // A live update may have just swapped the button in: htmx binds swapped-in content
  // when the swap settles (it drops "htmx-added" then, a timer later, longer on a busy
  // machine). Clicked before that, its form would submit without htmx and leave the page
  // for the no-JS confirmation page; so wait for htmx:load of the fresh content.
  function clickWhenBound(target) {
    var fresh = target.closest(".htmx-added");
    if (!fresh) {
      target.click();
      return;
    }
    fresh.addEventListener("htmx:load", function () {
      if (target.isConnected) target.click();
    }, { once: true });
  }

  function toggleHelp() {
    var help = document.getElementById("kbd-help");
    if (!help) return;
    if (help.open) help.close();
    else help.showModal();
  }

  function openDialog() {
    var dialogs = document.querySelectorAll("dialog[open]");
    return dialogs.length ? dialogs[dialogs.length - 1] : null;
  }

  function onKey(evt) {
    if (evt.defaultPrevented || evt.ctrlKey || evt.metaKey || evt.altKey || evt.isComposing) return;
    var target = evt.target;
    if (evt.key === "Escape") {
      var dialog = openDialog();
      if (dialog) {
        dialog.close();
        evt.preventDefault();
      } else if (typing(target)) {
        target.blur();
        evt.preventDefault();
      }
      return;
    }
    if (typing(target)) return;
    if (evt.key === "?") {
      toggleHelp();
      evt.preventDefault();
      return;
    }
    if (openDialog()) return; // the dialog has the keyboard until it closes
    var handled = true;
    switch (evt.key) {
      case "/":
        var search = document.getElementById("q");
        if (search) {
          search.focus();
          search.select();
        } else handled = false;
        break;
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "Enter":
        var row = target.matches && target.matches("tr.task-row") ? target : null;
        var link = row && row.querySelector("[data-row-link]");
        if (link) link.click();
        else handled = false;
        break;
      case "n":
        // The page's launch dialog if it has one, else the header's Launch link.
        var launch = clickable("[data-launch-open]") || clickable('[data-key="n"]');
        if (launch) launch.click();
        else handled = false;
        break;
      case "x":
        // Ticks the focused row for a bulk action (taskboard/static/taskboard/js/bulk.js).
        var row2 = focusedRow();
        var box = row2 && row2.querySelector("input[data-select]");
        if (box) box.click();
        else handled = false;
        break;
      case "r":
      case "c":
        handled = pressKey(evt.key);
        break;
      default:
        // The tabs carry their own key (data-key, rendered from taskboard/status.py), so
        // the list of tabs is the page's, never a copy here.
        var link6 = /^[0-9]$/.test(evt.key)
          ? document.querySelector('#status-tabs [data-key="' + evt.key + '"]')
          : null;
        if (link6) link6.click();
        else handled = false;
    }
    if (handled) evt.preventDefault();
  }
  // Keys act once the page is ready: htmx binds the page's forms on DOMContentLoaded,
  // and a key pressed before (a fast finger, a busy machine) would submit a bare form,
  // leaving the page for its no-JS confirmation page instead of asking in the dialog.
  function listen() {
    document.addEventListener("keydown", onKey);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", listen);
  else listen();

  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-help-open]")) toggleHelp();
  });

  // A row clicked or tabbed into becomes the current row too.
  document.addEventListener("focusin", function (evt) {
    var row = evt.target.closest && evt.target.closest("#task-rows tr.task-row");
    if (row) {
      focusedId = row.id;
      markCurrent(row);
    }
  });

  // A live update replaces the focused <tr>: give the new one the focus back.
  function restoreFocus() {
    var row = focusedRow();
    if (!row) return;
    markCurrent(row);
    var active = document.activeElement;
    if (!active || active === document.body || !document.body.contains(active)) {
      row.focus({ preventScroll: true });
    }
  }
  document.addEventListener("htmx:oobAfterSwap", restoreFocus);
  document.addEventListener("htmx:afterSettle", restoreFocus);
})();
