// Trade Nexus console: what htmx leaves to the page. No inline scripts (the CSP allows only these files).
(function () {
  "use strict";
  function say(text) {
    var message = document.getElementById("console-message");
    if (message) { message.textContent = text; }
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 401) {  // the token was revoked or the cookie is gone: sign in again
      window.location.assign("/console/sign-in");
      return;
    }
    var detail = "";
    try { detail = JSON.parse(xhr.responseText).detail; } catch (e) { detail = xhr.statusText; }
    say("Refused (" + xhr.status + "): " + detail);
  });
  function percent(value) { return value == null ? "" : (value * 100).toFixed(1) + "%"; }

  // A chart figure's data (its data-src, signed in), handed to draw; a lost sign-in goes back to the form.
  function withChartData(id, draw) {
    var figure = document.getElementById(id);
    if (!figure || !window.uPlot) { return; }
    fetch(figure.dataset.src, {credentials: "same-origin"}).then(function (reply) {
      if (!reply.ok) { throw new Error(String(reply.status)); }
      return reply.json();
    }).then(function (data) { draw(figure, data); }).catch(function (error) {
      if (error.message === "401") { window.location.assign("/console/sign-in"); }
    });
  }

  // The risk panel's chart (uPlot, served from /console/static): one per book, redrawn every 10 s.
  function drawEquity() {
    withChartData("equity-chart", function (figure, data) {
      var holder = figure.querySelector(".charts");
      var names = Object.keys(data.books);
      figure.querySelector(".empty").hidden = names.length > 0;
      holder.replaceChildren();
      names.forEach(function (name) {
        var series = data.books[name];
        var last = series.equity.length - 1;
        var box = document.createElement("div");
        box.className = "chart";
        box.dataset.book = name;
        box.setAttribute("role", "img");
        box.setAttribute("aria-label", "Book " + name + ": equity " + series.equity[last].toFixed(2) +
          ", drawdown " + percent(series.drawdown[last]) + " over " + series.t.length + " decisions");
        holder.appendChild(box);
        var peak = Math.max.apply(null, series.drawdown.concat([data.limit]));
        new window.uPlot({
          title: "Book " + name,
          width: Math.max(Math.min(holder.clientWidth || 800, 1000), 300),
          height: 240,
          scales: {eq: {}, dd: {range: [0, peak * 1.1]}},
          series: [
            {},
            {label: "Equity", scale: "eq", stroke: "#0550ae", width: 2},
            {label: "Drawdown", scale: "dd", stroke: "#a40e26", width: 1, value: function (u, v) { return percent(v); }}
          ],
          axes: [
            {},
            {scale: "eq", size: 80},
            {scale: "dd", side: 1, size: 50, grid: {show: false},
             values: function (u, values) { return values.map(function (v) { return (v * 100).toFixed(0) + "%"; }); }}
          ]
        }, [series.t, series.equity, series.drawdown], box);
      });
    });
  }
  // The models panel's charts: one per model version, its rolling live skill beside its baseline's.
  function drawSkill() {
    withChartData("skill-chart", function (figure, data) {
      var holder = figure.querySelector(".charts");
      holder.replaceChildren();
      data.curves.forEach(function (curve) {
        var ic = curve.metric === "ic";
        var name = (ic ? "Predictor" : "Volatility") + " v" + curve.version + (curve.champion ? " (champion)" : "");
        var baseline = ic ? "momentum" : "EWMA";
        var last = curve.t.length - 1;
        var shown = function (v) { return v == null ? "n/a" : v.toFixed(4); };
        var box = document.createElement("div");
        box.className = "chart";
        box.dataset.model = curve.model;
        box.dataset.version = curve.version;
        box.setAttribute("role", "img");
        box.setAttribute("aria-label", name + ": live " + curve.metric.toUpperCase() + " " + shown(curve.value[last]) +
          " against " + baseline + "'s " + shown(curve.baseline[last]) + " on the newest bar (" +
          (ic ? "higher" : "lower") + " is better), " + curve.t.length + " bars");
        holder.appendChild(box);
        new window.uPlot({
          title: name + ": rolling " + (ic ? "IC" : "QLIKE"),
          width: Math.max(Math.min(holder.clientWidth || 800, 1000), 300),
          height: 220,
          series: [
            {},
            {label: "Live " + (ic ? "IC" : "QLIKE"), stroke: "#0550ae", width: 2, value: function (u, v) { return shown(v); }},
            {label: baseline, stroke: "#57606a", width: 1, dash: [6, 4], value: function (u, v) { return shown(v); }}
          ],
          axes: [{}, {size: 70}]
        }, [curve.t, curve.value, curve.baseline], box);
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    drawSkill();
    drawEquity();
    if (document.getElementById("equity-chart")) { window.setInterval(drawEquity, 10000); }
  });

  document.addEventListener("htmx:sendError", function () {
    say("The decision service did not answer; retrying.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "kill-switch-form" && event.detail.successful) {
      form.querySelector("#switch-reason").value = "";
      say("Kill switch changed.");
    }
  });
})();
