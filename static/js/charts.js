/* Draws every chart of the analytics page with plotly.js (served from our static files), and again after htmx
 * swaps the charts for new filters. Figures are JSON in <script type="application/json"> next to each plot. */
(function () {
  "use strict";
  function draw(root) {
    for (const plot of root.querySelectorAll("[data-plotly]")) {
      const source = document.getElementById(plot.dataset.plotly);
      if (!source) continue;
      const figure = JSON.parse(source.textContent);
      window.Plotly.react(plot, figure.data, figure.layout, {responsive: true, displaylogo: false});
      plot.dataset.drawn = "true";
    }
  }
  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.body.addEventListener("htmx:afterSettle", () => draw(document));
})();
