// Injection map: a click or Enter/Space on a zone of the scalp diagram moves the focus to
// that zone's "points" field in the table below. The table works alone without JS.
document.addEventListener("DOMContentLoaded", () => {
  const activate = (zone) => {
    const input = document.getElementById(`map-${zone.dataset.zone}-points`);
    if (!input) return;
    document.querySelectorAll(".map-row.selected").forEach((r) => r.classList.remove("selected"));
    input.closest("tr").classList.add("selected");
    input.focus();
  };
  document.querySelectorAll("svg [data-zone]").forEach((zone) => {
    zone.addEventListener("click", () => activate(zone));
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        activate(zone);
      }
    });
  });
  const total = document.getElementById("map-total");
  // "1,5" is 1.5 (a tablet in a comma-decimal language has no point key), as the server reads it.
  const decimal = (text) => {
    const t = (text || "").trim();
    return parseFloat(/^[-+]?\d*,\d+$/.test(t) && t.split(",")[1].length !== 3 ? t.replace(",", ".") : t) || 0;
  };
  const whole = (text) => parseInt(text || "0", 10) || 0;
  const recompute = () => {
    // A negative amount is not added in (the server refuses it): "-0.20 mL" read as a total.
    let points = 0, volume = 0, negative = false;
    document.querySelectorAll("input[name$='-points']").forEach((i) => {
      const n = whole(i.value);
      if (n < 0) negative = true; else points += n;
    });
    document.querySelectorAll("input[name$='-volume_ml']").forEach((i) => {
      const v = decimal(i.value);
      if (v < 0) negative = true; else volume += v;
    });
    if (total) {
      total.textContent = `${points} points, ${volume.toFixed(2)} mL` +
        (negative ? " (a negative amount is left out: correct it)" : "");
    }
    // The zones' spoken names follow the table ("Frontal: 1.5 mL, 10 points"), not the page as loaded.
    document.querySelectorAll("svg [data-zone][aria-label]").forEach((zone) => {
      const p = document.getElementById(`map-${zone.dataset.zone}-points`);
      const v = document.getElementById(`map-${zone.dataset.zone}-volume_ml`);
      if (!p || !v) return;
      const label = zone.getAttribute("aria-label");
      const name = label.split(":")[0];
      const note = label.includes(" (") ? label.slice(label.indexOf(" (")) : "";
      zone.setAttribute("aria-label", `${name}: ${decimal(v.value)} mL, ${whole(p.value)} points${note}`);
    });
    const map = document.querySelector("svg.scalp-map[role='group']");
    if (map) {
      const head = map.getAttribute("aria-label").split(":")[0];
      map.setAttribute("aria-label", `${head}: ${volume.toFixed(2)} mL in ${points} points`);
    }
  };
  document.querySelectorAll(".map-table input").forEach((i) => i.addEventListener("input", recompute));
  recompute();
});
