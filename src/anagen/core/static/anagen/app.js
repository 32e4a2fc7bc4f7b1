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
// A refused form: the first field marked invalid gets the focus (its label and error are read
// out), else the error summary; after a full page load or an htmx swap of the form.
const focusRefused = (scope) => {
  const summary = scope.querySelector(".form-errors");
  if (!summary) return;
  const field = scope.querySelector('[aria-invalid="true"]');
  (field || summary).focus();
};
document.addEventListener("DOMContentLoaded", () => focusRefused(document));
document.addEventListener("htmx:afterSettle", (event) => {
  // An outerHTML swap leaves the old target detached: look in the whole page then.
  const target = event.detail.target;
  focusRefused(target && target.isConnected ? target : document);
});

