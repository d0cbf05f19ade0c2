// Small touches on top of pages that work without JavaScript.
document.documentElement.classList.add("js");
document.addEventListener("DOMContentLoaded", () => {
  // The tenant switcher goes as soon as a tenant is picked.
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  // Copy buttons: data-copy names the element whose text is copied.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  }
  // Forms that destroy something ask first.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});

// When a form comes back with an error, put back what was typed (never passwords or tokens).
(() => {
  const KEY = "tollgate-last-form";
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.method.toLowerCase() !== "post") return;
    const fields = [];
    for (const el of form.elements) {
      if (!el.name || el.type === "password" || el.type === "hidden" || el.type === "submit") continue;
      if (el.type === "checkbox") fields.push([el.name, el.value, el.checked]);
      else fields.push([el.name, el.value]);
    }
    sessionStorage.setItem(KEY, JSON.stringify({ action: form.getAttribute("action"), fields }));
  });
  document.addEventListener("DOMContentLoaded", () => {
    const saved = sessionStorage.getItem(KEY);
    sessionStorage.removeItem(KEY);
    if (!saved || !document.querySelector(".flash.error")) return;
    const { action, fields } = JSON.parse(saved);
    const form = [...document.forms].find((f) => f.getAttribute("action") === action);
    if (!form) return;
    for (const [name, value, checked] of fields) {
      for (const el of form.querySelectorAll(`[name="${CSS.escape(name)}"]`)) {
        if (el.type === "checkbox") { if (el.value === value) el.checked = checked; }
        else el.value = value;
      }
    }
  });
})();
