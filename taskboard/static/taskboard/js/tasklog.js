// A task's live log (taskboard/templates/taskboard/partials/task_log.html): "follow"
// keeps the newest line in view as htmx appends lines, until the reader scrolls up or
// presses the button; scrolling back to the end, or the button, follows again.
// Without this file the log still shows, and grows through its "Newer lines" link.
(function () {
  "use strict";

  function setUp() {
    var list = document.getElementById("log-lines");
    var button = document.getElementById("log-follow");
    if (!list || !button || list.dataset.follow) return;
    list.dataset.follow = "1";
    var following = true;

    function atEnd() {
      return list.scrollHeight - list.scrollTop - list.clientHeight < 8;
    }
    function show() {
      button.setAttribute("aria-pressed", following ? "true" : "false");
      button.textContent = following ? "Following new lines" : "Paused: follow new lines";
    }
    function toEnd() {
      list.scrollTop = list.scrollHeight;
    }

    button.hidden = false;
    // Lines arrive by themselves: the no-JavaScript "Newer lines" link is not needed.
    list.parentElement.classList.add("log-live");
    button.addEventListener("click", function () {
      following = !following;
      show();
      if (following) toEnd();
    });
    list.addEventListener("scroll", function () {
      var end = atEnd();
      if (following !== end) {
        following = end;
        show();
      }
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target === list && following) toEnd();
    });
    show();
    toEnd();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
