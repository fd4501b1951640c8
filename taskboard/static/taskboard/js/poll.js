// Keeps the page's one poll element (taskboard/templates/taskboard/partials/poll.html) carrying every
// in-flight row, including rows added after the page was drawn (a launch inserts
// its row into #task-rows): their ids join the next poll request, and a poll that
// had stopped starts again. Rows in flight carry data-poll="<id>:<token>".
(function () {
  "use strict";

  function carriedIds(raw) {
    var ids = {};
    (raw || "").split(",").forEach(function (item) {
      if (item) ids[item.split(":")[0]] = true;
    });
    return ids;
  }

  function missing(raw) {
    var carried = carriedIds(raw);
    var extra = [];
    document.querySelectorAll("#task-rows tr[data-poll]").forEach(function (row) {
      var value = row.getAttribute("data-poll");
      var id = value.split(":")[0];
      if (!carried[id]) {
        carried[id] = true;
        extra.push(value);
      }
    });
    return extra;
  }

  function joined(raw, extra) {
    return (raw ? raw.split(",") : []).concat(extra).join(",");
  }

  // The ids travel in the request body (the element's hx-vals), never in its URL:
  // a URL carrying a few hundred of them is past the server's request-line limit.
  document.addEventListener("htmx:configRequest", function (evt) {
    if (!evt.detail.elt || evt.detail.elt.id !== "poll") return;
    var params = evt.detail.parameters;
    var raw = params.ids || "";
    var extra = missing(raw);
    if (extra.length) params.ids = joined(raw, extra);
  });

  function restart() {
    var poll = document.getElementById("poll");
    if (!poll || poll.hasAttribute("hx-post") || !window.htmx) return;
    var extra = missing("");
    if (!extra.length) return;
    poll.setAttribute("hx-post", poll.getAttribute("data-src"));
    poll.setAttribute("hx-vals", JSON.stringify({ ids: extra.join(",") }));
    poll.setAttribute("hx-trigger", poll.getAttribute("data-trigger"));
    poll.setAttribute("hx-swap", "outerHTML");
    window.htmx.process(poll);
  }

  document.addEventListener("htmx:afterSettle", restart);

  // Timed polls ("every Ns") only ask while the tab is visible. This is done here
  // rather than with an hx-trigger filter expression, which htmx would have to
  // eval, and the Content-Security-Policy forbids eval.
  document.addEventListener("htmx:confirm", function (evt) {
    var trigger = evt.detail.elt && evt.detail.elt.getAttribute("hx-trigger");
    if (trigger && /^every /.test(trigger) && document.visibilityState !== "visible") {
      evt.preventDefault();
    }
  });
})();
