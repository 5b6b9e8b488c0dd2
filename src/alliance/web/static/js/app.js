// Alliance dashboards: the little behaviour pages need beyond plain HTML forms and links.
// Loaded from /static (the Content-Security-Policy allows no inline script). Every page
// works without it; it only adds copy buttons and confirmations.
"use strict";

function copyFrom(button) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const text = field.value !== undefined ? field.value : field.textContent;
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    button.setAttribute("aria-live", "polite");
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => { field.select(); document.execCommand("copy"); done(); });
  } else {
    field.select();
    document.execCommand("copy");
    done();
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (button) {
    event.preventDefault();
    copyFrom(button);
  }
});

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// Select-all checkboxes for bulk actions: <input type="checkbox" data-select-all="name">.
document.addEventListener("change", (event) => {
  const box = event.target.closest("[data-select-all]");
  if (!box) return;
  const form = box.closest("form") || document;
  form.querySelectorAll(`input[type=checkbox][name="${box.dataset.selectAll}"]`).forEach((item) => {
    item.checked = box.checked;
  });
});

// Parts of a form that belong to one choice of a select: <fieldset data-shown-for="method=paypal">
// is hidden while the select named "method" has another value. Without JavaScript every part
// shows, and the server uses only the chosen one's fields.
function showChosenParts() {
  document.querySelectorAll("[data-shown-for]").forEach((part) => {
    const [name, value] = part.dataset.shownFor.split("=");
    const select = (part.closest("form") || document).querySelector(`select[name="${name}"]`);
    if (select) part.hidden = select.value !== value;
  });
}
document.addEventListener("change", (event) => {
  if (event.target.matches("select")) showChosenParts();
});
document.addEventListener("DOMContentLoaded", showChosenParts);
