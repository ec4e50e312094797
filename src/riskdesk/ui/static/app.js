// Draws the charts declared in the page, e.g.
//   <div data-chart="bar" data-series='{"months":[...],"amounts":[...]}'>
//   <div data-chart="line" data-series='{"dates":[...],"series":{"name":[...]}}'>
//   <div data-chart="gauge" data-series='{"value":42.5,"label":"..."}'>
//   <div data-chart="stacked" data-series='{"labels":[...],"series":[{"name":"...","values":[...],"links":[...]}]}'>
// A bar chart may carry "links" (one address per bar: a click opens the list behind it),
// "counts" (customers per bar, shown in the tooltip), "horizontal" and "count" (whole numbers).
// A stacked bar's series may carry "links" (one per bar, null for none), the chart "horizontal",
// "count" (whole numbers), "grouped" (side by side) and "colors": "palette" (series that are not a
// scale); a line chart may carry
// "unit" (shown after each value), "shared" (one axis and a legend), "count" (whole numbers), null values (a gap: no figure that period) and "points"
// (draw every point).
(function () {
  // Eight colours apart: a stacked chart of up to eight series (warning types, rules) repeats none.
  var palette = ["#2f6fb0", "#b33a3a", "#2f855a", "#b7791f", "#6b46c1", "#2c7a7b", "#97266d", "#4a5568"];
  // Thousands separators, two places at most: never scientific notation.
  function amount(value) {
    return Number(value).toLocaleString(document.documentElement.lang || undefined, { maximumFractionDigits: 2 });
  }
  // Tooltips are HTML: names come from data (products, rules, people), so they are escaped.
  function escape(text) {
    return window.echarts ? echarts.format.encodeHTML(String(text)) : String(text).replace(/[&<>"']/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    });
  }
  function shown(value, unit) {
    return value === null || value === undefined || value === "-" || isNaN(value) ? "—" : amount(value) + (unit || "");
  }
  // Each bar's own cursor: a pointer only where a click opens something (the past months of
  // the ageing trend do not link, today's does).
  function linked(values, links) {
    if (!links) return values;
    return values.map(function (value, i) { return { value: value, cursor: links[i] ? "pointer" : "default" }; });
  }
  function option(kind, data) {
    if (kind === "stacked") {
      var stacks = data.series || [];
      var labels = { type: "category", data: data.labels || [], axisLabel: { hideOverlap: true } };
      var sums = { type: "value", axisLabel: { formatter: amount }, minInterval: data.count ? 1 : 0 };
      return {
        // Ageing's green-to-red by default; "colors": "palette" for series that are not a scale.
        color: data.colors === "palette" ? palette : ["#2f855a", "#b7791f", "#dd6b20", "#c53030", "#742a2a"],
        grid: { left: data.horizontal ? 8 : 70, right: 16, top: 16, bottom: 56, containLabel: !!data.horizontal },
        legend: { bottom: 0, type: "scroll" },
        tooltip: {
          trigger: "axis", axisPointer: { type: "shadow" },
          formatter: function (items) {
            var text = items.length ? escape(items[0].name) : "";
            items.forEach(function (item) { text += "<br>" + item.marker + escape(item.seriesName) + " " + amount(item.value); });
            return text;
          }
        },
        xAxis: data.horizontal ? sums : labels,
        yAxis: data.horizontal ? Object.assign({}, labels, { inverse: true }) : sums,
        series: stacks.map(function (s) {
          // "grouped": the series side by side (now and proposed), not stacked.
          return { name: s.name, type: "bar", stack: data.grouped ? undefined : "total", data: linked(s.values, s.links), cursor: "default" };
        })
      };
    }
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
        color: palette, tooltip: { trigger: "axis", valueFormatter: function (v) { return shown(v, data.unit); } },
        grid: { left: 60, right: 16, top: 12, bottom: data.shared ? 56 : 28 },
        xAxis: { type: "category", data: data.dates || [] },
        legend: data.shared ? { bottom: 0 } : undefined,
        yAxis: data.shared ? [{ type: "value", min: data.min, max: data.max, minInterval: data.count ? 1 : 0, axisLabel: { formatter: function (v) { return shown(v, data.unit); } } }] :
          names.map(function (_, i) { return { type: "value", show: i < 2 }; }).slice(0, 2),
        series: names.map(function (name, i) {
          var line = { name: name, type: "line", yAxisIndex: data.shared ? 0 : i % 2, data: data.series[name] };
          // A month between gaps is a point of its own: draw every point, or it is not seen.
          if (data.points) Object.assign(line, { showAllSymbol: true, symbolSize: 6 });
          return line;
        })
      };
    }
    var categories = { type: "category", data: data.months || data.labels || [], axisLabel: { interval: 0, hideOverlap: true } };
    // A narrow horizontal chart has room for few amounts across: overlapping ones are left out.
    var values = { type: "value", axisLabel: { formatter: amount, hideOverlap: true }, minInterval: data.count ? 1 : 0, splitNumber: data.horizontal ? 3 : 5 };
    // Counts are written above their bars: the tallest bar can reach the grid's top, so the grid
    // leaves room above it for its figure (with 16 px the top of the digits was cut off).
    var labelled = !!data.count && !data.horizontal;
    return {
      color: palette, grid: { left: data.horizontal ? 8 : 70, right: data.horizontal ? 40 : 24, top: labelled ? 28 : 16, bottom: data.horizontal ? 8 : 40, containLabel: !!data.horizontal },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" },
        formatter: function (items) {
          var item = items[0];
          var text = escape(item.name) + "<br>" + amount(item.value);
          if (data.counts) text += " · " + amount(data.counts[item.dataIndex]) + " " + escape(data.count_label || "");
          return text;
        }
      },
      xAxis: data.horizontal ? values : categories,
      yAxis: data.horizontal ? Object.assign({}, categories, { inverse: true }) : values,
      series: [{
        type: kind, data: linked(data.amounts || data.values || [], data.links),
        cursor: "default",
        label: { show: !!data.count, position: data.horizontal ? "right" : "top", formatter: function (p) { return amount(p.value); } }
      }]
    };
  }
  function draw() {
    if (!window.echarts) return;
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      var chart = window.echarts.init(el);
      var data = JSON.parse(el.dataset.series || "{}");
      chart.setOption(option(el.dataset.chart, data));
      if (data.links) {
        // Every bar opens the list behind it, already filtered.
        chart.on("click", function (p) {
          if (data.links[p.dataIndex]) window.location.href = data.links[p.dataIndex];
        });
      } else if (el.dataset.chart === "stacked") {
        chart.on("click", function (p) {
          var links = (data.series[p.seriesIndex] || {}).links || [];
          if (links[p.dataIndex]) window.location.href = links[p.dataIndex];
        });
      }
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  // A filter bar whose selects apply at once (the page is reloaded with them in the address).
  document.addEventListener("change", function (event) {
    var form = event.target.form;
    if (form && form.hasAttribute("data-autosubmit") && event.target.tagName === "SELECT") form.submit();
  });
  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", draw);
})();
