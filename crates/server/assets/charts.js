// huiqi 惠企 — chart islands. Each <div class="chart" data-chart="ID"> is drawn by ECharts
// (vendored, SVG renderer so the DOM can be read and tested) from the option the server wrote,
// from exact figures, into <script type="application/json" id="ID">. No inline script: the
// page's Content-Security-Policy allows scripts from this origin only. A table with the same
// figures sits under every chart.
(function () {
  'use strict';
  function draw() {
    if (!window.echarts) { return; }
    var nodes = document.querySelectorAll('div.chart[data-chart]');
    Array.prototype.forEach.call(nodes, function (el) {
      var src = document.getElementById(el.getAttribute('data-chart'));
      if (!src) { return; }
      var option;
      try { option = JSON.parse(src.textContent); } catch (e) { return; }
      option.animation = false;
      var chart = window.echarts.init(el, null, { renderer: 'svg' });
      chart.setOption(option);
      el.setAttribute('data-drawn', '1');
      window.addEventListener('resize', function () { chart.resize(); });
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', draw);
  } else {
    draw();
  }
})();
