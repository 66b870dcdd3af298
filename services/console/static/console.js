// Live SLA countdowns: every badge with data-due counts down (or up, once breached) each
// second. Plain DOM, no framework; the server's text stays when scripts are off.
(function () {
  "use strict";
  function text(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), r = s % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + two(m) + "m";
    if (m) return m + "m " + two(r) + "s";
    return r + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".badge[data-due]").forEach(function (el) {
      var state = el.getAttribute("data-state");
      if (state !== "ok" && state !== "warn" && state !== "breached") return;
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      if (left >= 0) {
        el.textContent = text(left) + " left";
      } else {
        el.textContent = "breached " + text(-left) + " ago";
        el.className = "badge sla-breached";
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
})();
// Forms marked data-confirm (deletes) ask before they post.
document.addEventListener("submit", function (event) {
  "use strict";
  var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
