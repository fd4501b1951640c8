// Bulk selection on the task table: x toggles the focused row (keys.js clicks its
// checkbox), shift-click selects a range, the header box the whole page. The rows'
// checkboxes belong to #bulk-form; without JavaScript they are submitted as they are.
(function () {
  "use strict";
  var selected = new Set();
  var lastClicked = null;

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("#task-rows input[data-select]"));
  }

  function sync() {
    // Rows replaced by a live update come back unchecked: check them again. Rows
    // no longer on the page (another filter or page) leave the selection.
    var present = new Set();
    boxes().forEach(function (box) {
      box.checked = selected.has(box.value);
      if (box.checked) present.add(box.value);
      var row = box.closest("tr");
      if (row) row.classList.toggle("selected", box.checked);
    });
    selected = present;
    render();
  }

  function render() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    var all = form.querySelector("[data-select-all]");
    var count = form.querySelector("[data-bulk-count]");
    var everything = all && all.checked;
    if (count) {
      count.textContent = everything
        ? "Every task matching this filter:"
        : selected.size + " selected:";
    }
    form.querySelectorAll("[data-bulk-action]").forEach(function (button) {
      button.disabled = !everything && selected.size === 0;
    });
    var page = document.querySelector("[data-select-page]");
    if (page) {
      var list = boxes();
      page.hidden = list.length === 0;
      page.checked = list.length > 0 && list.every(function (box) { return box.checked; });
      page.indeterminate = !page.checked && selected.size > 0;
    }
  }

  function setBox(box, checked) {
    box.checked = checked;
    if (checked) selected.add(box.value);
    else selected.delete(box.value);
    var row = box.closest("tr");
    if (row) row.classList.toggle("selected", checked);
  }

  document.addEventListener("click", function (evt) {
    var box = evt.target.closest && evt.target.closest("input[data-select]");
    if (box) {
      var list = boxes();
      if (evt.shiftKey && lastClicked && list.indexOf(lastClicked) !== -1) {
        var from = list.indexOf(lastClicked);
        var to = list.indexOf(box);
        var lo = Math.min(from, to);
        var hi = Math.max(from, to);
        for (var i = lo; i <= hi; i++) setBox(list[i], box.checked);
      } else {
        setBox(box, box.checked);
      }
      lastClicked = box;
      render();
      return;
    }
    var page = evt.target.closest && evt.target.closest("[data-select-page]");
    if (page) {
      boxes().forEach(function (other) { setBox(other, page.checked); });
      render();
    }
  });

  // The ticked ids go as one comma-separated field: a field per row stops at
  // Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) with a bare "Bad Request".
  document.addEventListener("formdata", function (evt) {
    if (evt.target.id !== "bulk-form") return;
    var ids = evt.formData.getAll("ids");
    evt.formData.delete("ids");
    if (ids.length) evt.formData.append("ids", ids.join(","));
  });

  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-select-all]")) render();
  });

  document.addEventListener("DOMContentLoaded", function () {
    boxes().forEach(function (box) { if (box.checked) selected.add(box.value); });
    sync();
  });
  // A poll answer swaps its rows one by one, and sync() walks every row: once per
  // answer, not once per row (500 rows swapped were 250,000 steps, seconds of a frozen
  // page). The microtask runs after htmx's swaps, before the page is painted.
  var syncQueued = false;
  function syncOnce() {
    if (syncQueued) return;
    syncQueued = true;
    queueMicrotask(function () {
      syncQueued = false;
      sync();
    });
  }
  document.addEventListener("htmx:oobAfterSwap", syncOnce);
  document.addEventListener("htmx:afterSettle", syncOnce);
})();
