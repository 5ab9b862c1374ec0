/* Small progressive enhancements: every page works without this file. */
(function () {
  "use strict";
  // The entry editor's preview follows the answer as it is typed.
  var form = document.querySelector("form[data-preview]");
  var target = document.getElementById("preview");
  if (form && target) {
    var timer = null;
    var redraw = function () {
      var body = new FormData(form);
      fetch("/admin/kb/preview", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) target.innerHTML = html; })
        .catch(function () { /* the Preview button still works */ });
    };
    ["answer", "links"].forEach(function (name) {
      var field = form.elements.namedItem(name);
      if (field) field.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(redraw, 300); });
    });
  }
  // Buttons that destroy something ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) { if (!window.confirm(f.getAttribute("data-confirm"))) e.preventDefault(); });
  });
})();
