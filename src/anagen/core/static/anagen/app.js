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
  const summary = scope.querySelector(".form-errors, [data-refused]");
  if (!summary) return false;
  const field = scope.querySelector('[aria-invalid="true"]');
  (field || summary).focus();
  return true;
};
document.addEventListener("DOMContentLoaded", () => focusRefused(document));
// An htmx form that replaces the panel it sits in (the correction tool) takes the focus with
// it: after the swap a keyboard user is put back in the same form of the new panel, not at
// the top of the page. Forms are matched by action, id and op (several share an action).
const formKey = (form) =>
  [form.getAttribute("action") || "", form.id, form.querySelector('input[name="op"]')?.value || ""].join("|");
let sentForm = null;
document.addEventListener("htmx:beforeRequest", (event) => {
  const form = event.detail.elt.closest?.("form");
  sentForm = form ? formKey(form) : null;
});
document.addEventListener("htmx:afterSettle", (event) => {
  // An outerHTML swap leaves the old target detached: look in the whole page then.
  const target = event.detail.target;
  if (focusRefused(target && target.isConnected ? target : document)) return;
  const lost = !document.activeElement || document.activeElement === document.body;
  if (!sentForm || !lost) return;
  const form = [...document.querySelectorAll("form")].find((f) => formKey(f) === sentForm);
  sentForm = null;
  const first = form?.querySelector("input:not([type=hidden]):not([disabled]), select, button");
  if (first) first.focus();
});
