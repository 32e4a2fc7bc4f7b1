// Click-to-place for "Add a missed hair" (progressive enhancement: the form works without it).
// A click on an overlay marked data-pick-form fills that form's base (x1, y1), the next click
// its tip (x2, y2), in pixels of the analysed image: the displayed size is scaled to
// data-width-px × data-height-px (the overlay itself may be a reduced copy).
(function () {
  "use strict";

  function imagePoint(img, event) {
    var box = img.getBoundingClientRect();
    var w = Number(img.dataset.widthPx) || img.naturalWidth;
    var h = Number(img.dataset.heightPx) || img.naturalHeight;
    var x = Math.floor(((event.clientX - box.left) * w) / box.width);
    var y = Math.floor(((event.clientY - box.top) * h) / box.height);
    return [Math.min(Math.max(x, 0), w - 1), Math.min(Math.max(y, 0), h - 1)];
  }

  function pickable(target) {
    return target && target.closest ? target.closest("img[data-pick-form]") : null;
  }

  function reveal(root) {
    var marked = root.querySelectorAll("[data-pick-hint], [data-pick-pointer]");
    for (var i = 0; i < marked.length; i++) marked[i].hidden = false;
    var images = root.querySelectorAll("img[data-pick-form]");
    for (var j = 0; j < images.length; j++) images[j].style.cursor = "crosshair";
  }

  document.addEventListener("click", function (event) {
    var img = pickable(event.target);
    var form = img && document.getElementById(img.dataset.pickForm);
    if (!form) return;
    event.preventDefault(); // the overlay's link opens the full-size image without JS
    var p = imagePoint(img, event);
    var tip = form.dataset.next === "tip";
    form.elements[tip ? "x2" : "x1"].value = p[0];
    form.elements[tip ? "y2" : "y1"].value = p[1];
    form.dataset.next = tip ? "base" : "tip";
    var status = form.querySelector("[data-pick-status]");
    if (status) {
      status.textContent = tip
        ? "Tip set at (" + p[0] + ", " + p[1] + ") px: check the diameter and press Add."
        : "Base set at (" + p[0] + ", " + p[1] + ") px: now click the tip.";
    }
  });

  document.addEventListener("mousemove", function (event) {
    var img = pickable(event.target);
    var figure = img && img.closest("figure");
    var readout = figure && figure.querySelector("[data-pick-pointer]");
    if (!readout) return;
    var p = imagePoint(img, event);
    readout.textContent = "Pointer: x " + p[0] + ", y " + p[1] + " px";
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
})();
