// Progressive enhancement for the consultation flow; every form works without it.
(() => {
  // htmx does not swap 4xx answers by default; a 400 here is a form with field errors,
  // which must replace the flow so the errors show next to their fields.
  document.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.xhr.status === 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Drawn signature: pointer strokes on a <canvas>; the PNG data URL goes into the
  // hidden field named by data-target. An untouched pad sends nothing.
  function initPad(canvas) {
    if (canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    const field = document.getElementById(canvas.dataset.target);
    const ctx = canvas.getContext("2d");
    ctx.lineWidth = 2.2;
    ctx.lineCap = "round";
    ctx.strokeStyle = "#1d2a33";
    let drawing = false;
    const point = (e) => {
      const r = canvas.getBoundingClientRect();
      return [(e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height)];
    };
    canvas.addEventListener("pointerdown", (e) => {
      drawing = true;
      canvas.setPointerCapture(e.pointerId);
      const [x, y] = point(e);
      ctx.beginPath();
      ctx.moveTo(x, y);
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!drawing) return;
      const [x, y] = point(e);
      ctx.lineTo(x, y);
      ctx.stroke();
    });
    const end = () => {
      if (!drawing) return;
      drawing = false;
      if (field) field.value = canvas.toDataURL("image/png");
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointerleave", end);
  }

  function init(root) {
    root.querySelectorAll("canvas.signature-pad").forEach(initPad);
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest(".signature-clear");
    if (!button) return;
    const canvas = document.querySelector(`canvas[data-target="${button.dataset.target}"]`);
    if (canvas) canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
    const field = document.getElementById(button.dataset.target);
    if (field) field.value = "";
  });
  document.addEventListener("DOMContentLoaded", () => init(document));
  document.addEventListener("htmx:afterSwap", () => init(document));
})();
