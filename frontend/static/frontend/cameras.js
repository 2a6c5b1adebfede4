// Devices page: the copy button next to the one-line install command (no inline script: CSP).
// navigator.clipboard where the page may use it; otherwise the text is selected so the user can
// press Ctrl+C, and the button says so.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const out = button.parentElement.querySelector(".copy-status");
  const text = source.value !== undefined ? source.value : source.textContent;
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error("no clipboard");
    await navigator.clipboard.writeText(text);
    if (out) out.textContent = "Copied to the clipboard.";
  } catch {
    source.focus();
    if (source.select) source.select();
    else window.getSelection().selectAllChildren(source);
    if (out) out.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
});
