// The console's only script: draw each chart from the ECharts option the server wrote into
// its data-chart attribute (built from aggregates in valuation/console/charts.py).
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(JSON.parse(el.getAttribute("data-chart")));
      el.setAttribute("data-rendered", "1");
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
