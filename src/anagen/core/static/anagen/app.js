// Progressive enhancement only: every page works without JavaScript.
document.addEventListener("htmx:responseError", (event) => {
  const target = event.detail.target;
  if (target) target.insertAdjacentHTML("afterbegin", '<p class="error" role="alert">The server refused the request. Reload the page and try again.</p>');
});
