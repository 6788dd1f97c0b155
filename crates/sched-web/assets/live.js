// The live runs view: new runs and run ends arrive over Server-Sent Events
// (api/events) and are put at the top of the table. Text is set with textContent,
// never as HTML.
(function () {
  "use strict";
  var base = document.body.getAttribute("data-base") || "";
  var table = document.querySelector("#runs tbody");
  var state = document.getElementById("live-state");
  if (!table || !window.EventSource) { return; }
  var filter = new URLSearchParams(window.location.search);
  function wanted(e) {
    if (filter.get("job") && e.job_id !== filter.get("job")) { return false; }
    if (filter.get("node") && e.node !== filter.get("node")) { return false; }
    if (filter.get("status") && e.status !== filter.get("status")) { return false; }
    return !filter.get("before");
  }
  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }
  function show(e) {
    if (e.run_id == null || !wanted(e)) { return; }
    var empty = table.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var row = table.querySelector('tr[data-run="' + e.run_id + '"]');
    var fresh = document.createElement("tr");
    fresh.setAttribute("data-run", String(e.run_id));
    fresh.className = "fresh";
    cell(fresh, e.run_id);
    var job = cell(fresh, "");
    var link = document.createElement("a");
    link.href = base + "/jobs/" + encodeURIComponent(e.job_id);
    link.textContent = e.job_id;
    job.appendChild(link);
    cell(fresh, e.scheduled);
    cell(fresh, e.attempt == null ? "1" : e.attempt, "attempt");
    cell(fresh, row ? row.children[4].textContent : new Date().toISOString());
    cell(fresh, e.duration_seconds == null ? "" : e.duration_seconds.toFixed(3) + " s");
    cell(fresh, e.node);
    var status = cell(fresh, "");
    var badge = document.createElement("span");
    badge.className = "status " + (e.status || "");
    badge.textContent = e.status || e.kind;
    status.appendChild(badge);
    cell(fresh, e.error, "error");
    var result = e.result == null ? "" : e.result;
    cell(fresh, result.length > 80 ? result.slice(0, 80) + "…" : result, "result").title = result;
    var act = cell(fresh, "");
    if (table.closest("table").getAttribute("data-cancel") && e.status === "running") {
      var form = document.createElement("form");
      form.method = "post";
      form.action = base + "/runs/" + encodeURIComponent(String(e.run_id)) + "/cancel";
      form.className = "inline";
      var back = document.createElement("input");
      back.type = "hidden";
      back.name = "back";
      back.value = location.pathname + location.search;
      form.appendChild(back);
      var button = document.createElement("button");
      button.type = "submit";
      button.className = "danger";
      button.setAttribute("data-action", "cancel");
      button.textContent = "Cancel";
      form.appendChild(button);
      act.appendChild(form);
    }
    if (row) { row.replaceWith(fresh); } else { table.insertBefore(fresh, table.firstChild); }
  }
  var source = new EventSource(base + "/api/events");
  source.onopen = function () { state.textContent = "live"; };
  source.onerror = function () { state.textContent = "reconnecting…"; };
  ["submitted", "executed", "error", "abandoned", "run"].forEach(function (kind) {
    source.addEventListener(kind, function (m) { show(JSON.parse(m.data)); });
  });
  source.addEventListener("missed_events", function (m) {
    var e = JSON.parse(m.data);
    state.textContent = "live (" + (e.count == null ? "some" : e.count) + " events missed" +
      (e.node ? " from " + e.node : "") + ")";
  });
})();
