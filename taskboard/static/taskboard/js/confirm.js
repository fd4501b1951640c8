// Asks before the actions whose form carries data-confirm (Retry, Cancel, Revoke), in the
// page's #confirm-dialog (taskboard/templates/taskboard/layout.html) rather than the browser's confirm() box:
// Enter confirms, Esc goes back, Tab stays inside. Without JavaScript those forms are GETs
// of a confirmation page; with it htmx posts them once this dialog says yes.
(function () {
  "use strict";
  var FOCUSABLE =
    'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), ' +
    'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  var pending = null; // { form, issueRequest } while the dialog asks
  var approved = null; // a form let through without asking again

  function dialog() {
    return document.getElementById("confirm-dialog");
  }

  function ask(form, issueRequest) {
    var box = dialog();
    var yes = box.querySelector("#confirm-yes");
    var note = box.querySelector("#confirm-note");
    box.querySelector("#confirm-question").textContent = form.dataset.confirm;
    note.textContent = form.dataset.confirmNote || "";
    note.hidden = !form.dataset.confirmNote;
    yes.firstChild.textContent = (form.dataset.confirmButton || "Confirm") + " ";
    var danger = form.hasAttribute("data-confirm-danger");
    yes.classList.toggle("danger", danger);
    yes.classList.toggle("primary", !danger);
    pending = { form: form, issueRequest: issueRequest };
    box.returnValue = "";
    box.showModal();
    yes.focus();
  }

  document.addEventListener("htmx:confirm", function (evt) {
    var elt = evt.detail.elt;
    var form = elt && elt.closest && elt.closest("[data-confirm]");
    if (!form || !dialog()) return;
    if (form === approved) {
      approved = null;
      return;
    }
    evt.preventDefault();
    ask(form, evt.detail.issueRequest);
  });

  function closed() {
    var asked = pending;
    pending = null;
    // returnValue is the value of the button that closed it; Esc leaves it empty.
    if (!asked || dialog().returnValue !== "confirm") return;
    if (document.contains(asked.form)) {
      asked.issueRequest(true);
      return;
    }
    // A live update redrew the row (or the task's page) while the dialog asked: htmx
    // drops requests of detached elements, so submit the redrawn form instead, if the
    // action still applies.
    var path = asked.form.getAttribute("hx-post");
    var again = path && document.querySelector('form[data-confirm][hx-post="' + CSS.escape(path) + '"]');
    if (again) {
      approved = again;
      again.requestSubmit();
    }
  }

  // Keeps Tab and Shift+Tab inside the open modal dialog, this one or another.
  function trapTab(evt) {
    if (evt.key !== "Tab") return;
    var open = document.querySelectorAll("dialog[open]");
    var box = open.length ? open[open.length - 1] : null;
    if (!box) return;
    var items = Array.prototype.filter.call(box.querySelectorAll(FOCUSABLE), function (el) {
      return el.getClientRects().length > 0;
    });
    if (!items.length) return;
    var first = items[0];
    var last = items[items.length - 1];
    var active = document.activeElement;
    var wrapTo = null;
    if (!box.contains(active)) wrapTo = evt.shiftKey ? last : first;
    else if (evt.shiftKey && active === first) wrapTo = last;
    else if (!evt.shiftKey && active === last) wrapTo = first;
    if (wrapTo) {
      wrapTo.focus();
      evt.preventDefault();
    }
  }

  function init() {
    var box = dialog();
    if (box) box.addEventListener("close", closed);
    document.addEventListener("keydown", trapTab);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
