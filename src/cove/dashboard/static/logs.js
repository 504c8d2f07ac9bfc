// The Logs tab's live tail: each server-sent event is a log line, added to the list; the
// list keeps at most data-max lines. No library: EventSource is in every browser.
(function () {
  "use strict";
  function start() {
    var list = document.getElementById("log-lines-list");
    var status = document.getElementById("log-status");
    if (!list || !window.EventSource) return;
    var max = parseInt(list.getAttribute("data-max"), 10) || 1000;
    var events = new EventSource(list.getAttribute("data-stream"));
    events.addEventListener("ready", function () {
      list.setAttribute("data-live", "1");
      status.textContent = "Live: new lines appear as they arrive.";
    });
    events.onmessage = function (event) {
      var empty = document.getElementById("log-empty");
      if (empty) empty.remove();
      var atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
      var item = document.createElement("li");
      item.textContent = event.data;
      list.appendChild(item);
      while (list.children.length > max) list.removeChild(list.firstElementChild);
      if (atEnd) list.scrollTop = list.scrollHeight;
    };
    events.addEventListener("end", function (event) {
      events.close();
      list.removeAttribute("data-live");
      status.textContent = event.data + " Reload the page to follow the logs again.";
    });
    events.onerror = function () {
      list.removeAttribute("data-live");
      status.textContent = events.readyState === EventSource.CLOSED
        ? "The live tail stopped. Reload the page to follow the logs again."
        : "Reconnecting…";
    };
    list.scrollTop = list.scrollHeight;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
