// Portal behaviour, kept out of the HTML: the Content-Security-Policy allows no inline script.
"use strict";

// <select data-autosubmit> submits its form on change (the tenant switcher).
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});

// <form data-confirm="question?"> asks before submitting (revoking a token).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
