/* Report charts: draws every `.report-chart` of the page with Apache ECharts (served from
 * node_modules like htmx) from the JSON the page embeds in it
 * (<script type="application/json" class="chart-data">, built by engine/web/pages/reports.py).
 *
 * Kinds: bar, stacked_bar, line, area, pie, donut, funnel (number cards and tables are
 * HTML). Clicking a bar, a point, a slice or a funnel step opens the URL the page gave that
 * figure (the list page filtered to exactly its records). The "Download PNG" button of the
 * same result (.report-actions, outside the chart's box) saves the chart as REPORT.png
 * (ECharts' getDataURL); it stays hidden until the chart is drawn. Charts follow their box's width (a ResizeObserver), so a phone
 * gets a chart as wide as the screen; the language is the page's (`<html lang>`).
 * No eval, no inline handlers: the Content-Security-Policy allows neither. */
(function () {
  "use strict";

  var AXIS = { bar: "bar", stacked_bar: "bar", line: "line", area: "line" };

  function number(value, percent) {
    if (value === null || value === undefined) { return "–"; }
    if (percent) { return (value * 100).toFixed(1) + "%"; }
    var lang = document.documentElement.lang || "en";
    return Number(value).toLocaleString(lang.indexOf("zh") === 0 ? "zh-CN" : "en-US", { maximumFractionDigits: 2 });
  }

  function axisOption(spec) {
    var stacked = spec.type === "stacked_bar";
    var series = spec.series.map(function (s) {
      var one = { name: s.name, type: AXIS[spec.type], data: s.data, emphasis: { focus: "series" } };
      if (stacked) { one.stack = "all"; }
      if (spec.type === "area") { one.areaStyle = {}; }
      if (AXIS[spec.type] === "line") { one.connectNulls = true; }
      if (s.color) { one.itemStyle = { color: s.color }; }
      if (s.axis) { one.yAxisIndex = 1; }
      return one;
    });
    var percentAxes = [!!spec.percent, !!spec.percent2];
    var yAxis = [{ type: "value", axisLabel: { formatter: function (v) { return number(v, percentAxes[0]); } } }];
    if (spec.series.some(function (s) { return s.axis; })) {
      yAxis.push({ type: "value", axisLabel: { formatter: function (v) { return number(v, percentAxes[1]); } },
                   splitLine: { show: false } });
    }
    return {
      tooltip: { trigger: "axis", axisPointer: { type: stacked ? "shadow" : "line" },
                 valueFormatter: function (v) { return number(v, spec.percent); } },
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: spec.categories, axisLabel: { hideOverlap: true },
               boundaryGap: AXIS[spec.type] === "bar" },
      yAxis: yAxis,
      series: series
    };
  }

  function pieOption(spec) {
    var s = spec.series[0];
    return {
      tooltip: { trigger: "item", valueFormatter: function (v) { return number(v, spec.percent); } },
      legend: { type: "scroll", bottom: 0 },
      series: [{ name: s.name, type: "pie", radius: spec.type === "donut" ? ["40%", "68%"] : "68%",
                 center: ["50%", "45%"], data: s.data, label: { formatter: "{b}: {d}%" } }]
    };
  }

  function funnelOption(spec) {
    var s = spec.series[0];
    return {
      tooltip: { trigger: "item", formatter: function (p) {
        var text = p.name + ": " + number(p.value, spec.percent);
        return p.data.conversion ? text + " (" + p.data.conversion + ")" : text;
      } },
      series: [{ name: s.name, type: "funnel", sort: "none", left: "10%", width: "80%", top: 8, bottom: 8,
                 minSize: "8%", data: s.data, label: { position: "inside", formatter: function (p) {
                   return p.name + " " + number(p.value, spec.percent) +
                     (p.data.conversion ? " · " + p.data.conversion : "");
                 } } }]
    };
  }

  function option(spec) {
    if (spec.type === "pie" || spec.type === "donut") { return pieOption(spec); }
    if (spec.type === "funnel") { return funnelOption(spec); }
    return axisOption(spec);
  }

  function draw(box) {
    if (box.dataset.drawn) { return; }
    var data = box.querySelector("script.chart-data");
    var canvas = box.querySelector(".chart-canvas");
    if (!data || !canvas || !window.echarts) { return; }
    var spec = JSON.parse(data.textContent);
    var lang = document.documentElement.lang || "en";
    var chart = window.echarts.init(canvas, null, { locale: lang.indexOf("zh") === 0 ? "ZH" : "EN" });
    chart.setOption(option(spec));
    box.dataset.drawn = "1";
    chart.on("click", function (params) {
      var link = params.data && params.data.link;
      if (link) { window.location.assign(link); }
    });
    if (window.ResizeObserver) {
      new ResizeObserver(function () { chart.resize(); }).observe(canvas);
    } else {
      window.addEventListener("resize", function () { chart.resize(); });
    }
    // the button sits with the exports, beside the chart's box: found through the result
    // both belong to, and shown only now that there is a drawn chart to save
    var result = box.closest(".report-result");
    var png = result && result.querySelector(".chart-png");
    if (png && !png.dataset.bound) {
      png.dataset.bound = "1";
      png.hidden = false;
      png.addEventListener("click", function () {
        var a = document.createElement("a");
        a.href = chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
        a.download = (spec.file || "chart") + ".png";
        document.body.appendChild(a);
        a.click();
        a.remove();
      });
    }
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".report-chart").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
