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
// it: after the swap a keyboard user is put back in the same form of the new panel (or on its
// error), not at the top of the page. Only for a swap that answers a form: a panel polling
// for its result must not move the focus. Forms are matched by action, id and op.
const formKey = (form) =>
  [form.getAttribute("action") || "", form.id, form.querySelector('input[name="op"]')?.value || ""].join("|");
document.addEventListener("htmx:afterSettle", (event) => {
  const sender = event.detail.requestConfig?.elt;
  const sent = sender?.closest?.("form");
  if (!sent) return;
  // An outerHTML swap leaves the old target detached: its successor has the same id.
  const target = event.detail.target;
  const scope = target?.isConnected ? target : (target?.id && document.getElementById(target.id)) || null;
  if (!scope) return;
  if (focusRefused(scope)) return;
  const lost = !document.activeElement || document.activeElement === document.body;
  if (!lost) return;
  const key = formKey(sent);
  const form = [...scope.querySelectorAll("form")].find((f) => formKey(f) === key);
  const first = form?.querySelector("input:not([type=hidden]):not([disabled]), select, button");
  if (first) first.focus();
});
// A form whose act cannot be taken back in one click (deactivating a member, resetting a
// password) asks first; without a script the server's own checks still apply.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
