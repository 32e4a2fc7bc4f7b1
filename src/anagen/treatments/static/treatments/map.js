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
  const recompute = () => {
    let points = 0, volume = 0;
    document.querySelectorAll("input[name$='-points']").forEach((i) => { points += parseInt(i.value || "0", 10) || 0; });
    document.querySelectorAll("input[name$='-volume_ml']").forEach((i) => { volume += parseFloat(i.value || "0") || 0; });
    if (total) total.textContent = `${points} points, ${volume.toFixed(2)} mL`;
  };
  document.querySelectorAll(".map-table input").forEach((i) => i.addEventListener("input", recompute));
  recompute();
});
