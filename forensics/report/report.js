"use strict";
// Sorting and filtering of the report's tables. No network, no eval, no inline handlers.
(function () {
  function cellValue(row, index) {
    var cell = row.cells[index];
    return cell ? (cell.getAttribute("data-v") || cell.textContent) : "";
  }
  function sortTable(table, index, numeric, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var d = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
      return ascending ? d : -d;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filterTable(table, text, counter) {
    var needle = text.toLowerCase(), shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      var hit = r.textContent.toLowerCase().indexOf(needle) !== -1;
      r.hidden = !hit;
      if (hit) { shown += 1; }
    });
    if (counter) { counter.textContent = shown + " shown"; }
  }
  document.querySelectorAll("table.data").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      var button = th.querySelector("button");
      if (button) {
        button.addEventListener("click", function () {
          sortTable(table, index, th.classList.contains("num"), th);
        });
      }
    });
  });
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    var counter = document.getElementById(input.getAttribute("data-filter") + "-count");
    input.addEventListener("input", function () { filterTable(table, input.value, counter); });
  });
  // Lets a test see that the policy allowed this script (and only this one) to run.
  document.documentElement.setAttribute("data-script", "ready");
})();
