// Draws the charts declared in the page: <div data-chart="bar" data-series='{"months":[...],"amounts":[...]}'>
(function () {
  function draw() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var data = JSON.parse(el.dataset.series || "{}");
      var chart = window.echarts.init(el);
      chart.setOption({
        grid: { left: 60, right: 16, top: 16, bottom: 40 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: data.months || [] },
        yAxis: { type: "value" },
        series: [{ type: el.dataset.chart, data: data.amounts || [], itemStyle: { color: "#2f6fb0" } }]
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", draw);
})();
