// Progressive enhancement only: every page works without JavaScript.
document.addEventListener("htmx:responseError", (event) => {
  const target = event.detail.target;
  if (target) target.insertAdjacentHTML("afterbegin", '<p class="error" role="alert">The server refused the request. Reload the page and try again.</p>');
});
// A print button is offered only where a script can press it (it is hidden in the markup).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
});
