// Progressive enhancement of the backoffice pages: every page works without it.
"use strict";

function syncChoices(form) {
  // Show only the part of a block that matches its checked radio button.
  form.querySelectorAll("[data-show-for]").forEach(function (part) {
    var checked = form.querySelector('input[name="' + part.dataset.showFor + '"]:checked');
    part.hidden = checked !== null && checked.value !== part.dataset.showValue;
  });
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-show-for]")) return;
    syncChoices(form);
    form.addEventListener("change", function () { syncChoices(form); });
  });

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      var status = document.querySelector('[data-copied-for="' + button.dataset.copy + '"]');
      function done(text) { if (status) status.textContent = text; }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(
          function () { done("Copied"); },
          function () { input.select(); done("Press Ctrl+C to copy"); }
        );
      } else {
        input.select();
        done(document.execCommand("copy") ? "Copied" : "Press Ctrl+C to copy");
      }
    });
  });

  document.querySelectorAll("a[data-dialog]").forEach(function (link) {
    var dialog = document.getElementById(link.dataset.dialog);
    if (!dialog || typeof dialog.showModal !== "function") return;
    link.setAttribute("role", "button");
    link.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.showModal();
    });
    link.addEventListener("keydown", function (event) {
      if (event.key === " ") { event.preventDefault(); dialog.showModal(); }
    });
    dialog.addEventListener("close", function () { link.focus(); });
  });

  document.querySelectorAll("[data-close]").forEach(function (button) {
    button.addEventListener("click", function () { button.closest("dialog").close(); });
  });

  document.querySelectorAll("[data-select]").forEach(function (button) {
    button.addEventListener("click", function () {
      var all = button.dataset.select === "all";
      button.closest("form").querySelectorAll('input[name="ticket_id"]:not(:disabled)')
        .forEach(function (box) { box.checked = all; });
    });
  });

  document.querySelectorAll("details[data-menu]").forEach(function (menu) {
    menu.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
  });
});
