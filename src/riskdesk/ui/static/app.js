// Draws the charts declared in the page, e.g.
//   <div data-chart="bar" data-series='{"months":[...],"amounts":[...]}'>
//   <div data-chart="line" data-series='{"dates":[...],"series":{"name":[...]}}'>
//   <div data-chart="gauge" data-series='{"value":42.5,"label":"..."}'>
(function () {
  var palette = ["#2f6fb0", "#b33a3a", "#2f855a", "#b7791f", "#6b46c1"];
  function option(kind, data) {
    if (kind === "gauge") {
      return {
        series: [{
          type: "gauge", min: 0, max: 150, radius: "95%", splitNumber: 5, progress: { show: true },
          axisLabel: { distance: 18, fontSize: 10 }, axisTick: { show: false },
          axisLine: { lineStyle: { width: 12, color: [[0.6, "#2f855a"], [0.8, "#b7791f"], [1, "#b33a3a"]] } },
          detail: { formatter: "{value}%", fontSize: 20 }, title: { offsetCenter: [0, "75%"] },
          data: [{ value: data.value, name: data.label || "" }]
        }]
      };
    }
    if (kind === "line") {
      var names = Object.keys(data.series || {});
      return {
        color: palette, tooltip: { trigger: "axis" },
        grid: { left: 60, right: 16, top: 12, bottom: 28 },
        xAxis: { type: "category", data: data.dates || [] },
        legend: data.shared ? { bottom: 0 } : undefined,
        yAxis: data.shared ? [{ type: "value", min: data.min, max: data.max }] :
          names.map(function (_, i) { return { type: "value", show: i < 2 }; }).slice(0, 2),
        series: names.map(function (name, i) {
          return { name: name, type: "line", yAxisIndex: data.shared ? 0 : i % 2, data: data.series[name] };
        })
      };
    }
    return {
      color: palette, grid: { left: 70, right: 16, top: 16, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: data.months || data.labels || [] },
      yAxis: { type: "value" },
      series: [{ type: kind, data: data.amounts || data.values || [] }]
    };
  }
  function draw() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var chart = window.echarts.init(el);
      chart.setOption(option(el.dataset.chart, JSON.parse(el.dataset.series || "{}")));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", draw);
})();
