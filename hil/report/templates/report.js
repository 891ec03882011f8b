// Filters and expand/collapse for the test list; everything is readable without it.
(function () {
  "use strict";
  var tests = Array.prototype.slice.call(document.querySelectorAll("details.test"));
  var filters = Array.prototype.slice.call(document.querySelectorAll("[data-filter]"));

  function show(filter) {
    tests.forEach(function (el) {
      var v = el.getAttribute("data-verdict");
      var visible = filter === "all" ||
        (filter === "bad" && (v === "fail" || v === "error")) || filter === v;
      el.hidden = !visible;
    });
    filters.forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-filter") === filter));
    });
  }

  filters.forEach(function (b) {
    b.addEventListener("click", function () { show(b.getAttribute("data-filter")); });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-expand]"), function (b) {
    b.addEventListener("click", function () {
      var open = b.getAttribute("data-expand") === "open";
      tests.forEach(function (el) { if (!el.hidden) { el.open = open; } });
    });
  });

  // A link to a test (matrix, plot, timing) opens it and shows it even when filtered out.
  function reveal() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var el = id ? document.getElementById(id) : null;
    if (el && el.tagName === "DETAILS") {
      if (el.hidden) { show("all"); }
      el.open = true;
      el.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", reveal);
  reveal();

  // Printing is the compliance copy: every test and its evidence open (probe logs stay as
  // they are: long, and kept in full in the HTML and record.json); restored afterwards.
  var closed = [];
  window.addEventListener("beforeprint", function () {
    closed = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) {
      return !d.open && !d.classList.contains("probe");
    });
    closed.forEach(function (d) { d.open = true; });
    tests.forEach(function (el) { el.hidden = false; });
  });
  window.addEventListener("afterprint", function () {
    closed.forEach(function (d) { d.open = false; });
    closed = [];
    var pressed = document.querySelector("[data-filter][aria-pressed=true]");
    show(pressed ? pressed.getAttribute("data-filter") : "all");
  });

  document.documentElement.setAttribute("data-report-js", "ready");
}());
