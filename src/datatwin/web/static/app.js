// datatwin web: live job progress over server-sent events, and local times. No build step.
"use strict";
(function () {
  function fmtSeconds(s) {
    if (s === undefined || s === null) return "";
    s = Math.round(s);
    return s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
  }
  function describe(state) {
    var p = state.progress || {};
    if (state.status === "queued") return "Queued: waiting for a free worker…";
    if (!p.stage) return "Starting…";
    var parts = [p.stage];
    // A database fit: which table, and how many are done (textContent: a table name is never markup).
    if (p.tables) parts.unshift("table " + (p.table || "") + " (" + Math.min(p.tables_done + 1, p.tables) + " of " + p.tables + ")");
    if (p.stage === "fit" && p.epoch) parts.push("epoch " + Math.round(p.epoch) + (p.total ? " of " + Math.round(p.total) : ""));
    if (p.val_loss !== undefined) parts.push("validation loss " + p.val_loss.toFixed(4));
    if (p.elapsed !== undefined) parts.push(fmtSeconds(p.elapsed) + " elapsed");
    if (p.seconds_left !== undefined) parts.push("about " + fmtSeconds(p.seconds_left) + " left");
    if (state.cancel_requested) parts.push("cancelling…");
    return parts.join(" · ");
  }
  function watch(el) {
    var src = new EventSource(el.dataset.events);
    var bar = document.getElementById("bar"), detail = document.getElementById("detail"),
        status = document.getElementById("status");
    src.addEventListener("progress", function (e) {
      var state = JSON.parse(e.data);
      status.textContent = state.status;
      status.className = "status " + state.status;
      if (bar && state.progress && state.progress.fraction !== undefined) bar.value = state.progress.fraction;
      if (detail) detail.textContent = describe(state);
    });
    src.addEventListener("end", function () { src.close(); window.location.reload(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var job = document.getElementById("job");
    if (job && ["queued", "running"].indexOf(job.dataset.status) >= 0) watch(job);
    document.querySelectorAll(".time[data-t]").forEach(function (td) {
      td.textContent = new Date(parseFloat(td.dataset.t) * 1000).toLocaleString();
    });
  });
})();
