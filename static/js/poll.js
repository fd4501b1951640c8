// Keeps the page's one poll element (templates/partials/poll.html) carrying every
// in-flight row, including rows added after the page was drawn (a launch inserts
// its row into #task-rows): their ids join the next poll request, and a poll that
// had stopped starts again. Rows in flight carry data-poll="<id>:<token>".
(function () {
  "use strict";

  function carriedIds(path) {
    var ids = {};
    var raw = path ? new URL(path, window.location.href).searchParams.get("ids") : "";
    (raw || "").split(",").forEach(function (item) {
      if (item) ids[item.split(":")[0]] = true;
    });
    return ids;
  }

  function missing(path) {
    var carried = carriedIds(path);
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

  function withIds(path, extra) {
    var url = new URL(path, window.location.href);
    var ids = url.searchParams.get("ids");
    url.searchParams.set("ids", (ids ? ids.split(",") : []).concat(extra).join(","));
    return url.pathname + url.search;
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    if (!evt.detail.elt || evt.detail.elt.id !== "poll") return;
    var extra = missing(evt.detail.path);
    if (extra.length) evt.detail.path = withIds(evt.detail.path, extra);
  });

  function restart() {
    var poll = document.getElementById("poll");
    if (!poll || poll.hasAttribute("hx-get") || !window.htmx) return;
    var extra = missing("");
    if (!extra.length) return;
    poll.setAttribute("hx-get", withIds(poll.getAttribute("data-src"), extra));
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
