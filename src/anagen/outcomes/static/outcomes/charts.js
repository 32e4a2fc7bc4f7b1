// Vega-Lite charts and the photo slider. Specs come from json_script tags; no inline JS.
// The page's CSP has no 'unsafe-eval', so Vega interprets expressions (vega-interpreter)
// instead of compiling them with new Function; vega-tooltip's inline <style> is disabled
// and its CSS lives in outcomes.css.
(function () {
  "use strict";
  function renderCharts() {
    document.querySelectorAll("[data-vega-spec]").forEach(function (el) {
      var source = document.getElementById(el.dataset.vegaSpec);
      if (!source || typeof vegaEmbed === "undefined" || !window.vega) return;
      var spec = JSON.parse(source.textContent);
      // Small multiples three across are unreadable on a phone: one column, full width.
      if (spec.columns && spec.spec && el.clientWidth && el.clientWidth < 640) {
        spec.columns = 1;
        spec.spec.width = Math.max(200, el.clientWidth - 80);
      } else if (typeof spec.width === "number" && el.clientWidth &&
                 el.clientWidth < spec.width + 200) {
        // A single chart with its legend beside it shrinks to a few px of text on a phone
        // (the SVG is scaled to fit): draw it at the width there is, legend below.
        spec.width = Math.max(200, el.clientWidth - 70);
        spec.config = Object.assign({}, spec.config);
        spec.config.legend = Object.assign({}, spec.config.legend, { orient: "bottom", direction: "vertical" });
      }
      vegaEmbed(el, spec, {
        ast: true,
        expr: vega.expressionInterpreter,  // from vega-interpreter.min.js
        actions: false,
        renderer: "svg",
        defaultStyle: false,
        tooltip: { disableDefaultStyle: true },
      }).then(function () {
        el.dataset.rendered = "true";
      }).catch(function (err) {
        el.dataset.rendered = "error";
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = "The chart could not be drawn (" + err + "); the table shows the same data.";
        el.appendChild(p);
      });
    });
  }
  function sliders() {
    document.querySelectorAll("[data-compare]").forEach(function (box) {
      var range = box.querySelector("input[type=range]");
      var top = box.querySelector(".compare-top");
      if (!range || !top) return;
      var apply = function () {
        top.style.clipPath = "inset(0 " + (100 - Number(range.value)) + "% 0 0)";
      };
      range.addEventListener("input", apply);
      apply();
      box.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    renderCharts();
    sliders();
  });
})();
