/* The portal's small enhancements; every page works without them. */
(function () {
  "use strict";

  /* Focus the first field with an error, else the first error message, so a keyboard or
     screen-reader user lands where the page needs them (the page is also scrolled there). */
  function focusFirstProblem() {
    var field = document.querySelector('[aria-invalid="true"]');
    if (field) { field.focus(); return; }
    var alert = document.querySelector('.messages [role="alert"]');
    var list = alert ? alert.closest(".messages") : document.querySelector("main .messages");
    if (list) {
      list.focus({ preventScroll: true });
      list.scrollIntoView({ block: "center" });
    }
  }

  /* A colour picker next to each #rrggbb field: the text field is the value sent. */
  function wireColourPickers() {
    document.querySelectorAll("input[type=color][data-colour-for]").forEach(function (picker) {
      var text = document.getElementById(picker.getAttribute("data-colour-for"));
      if (!text) { return; }
      picker.addEventListener("input", function () { text.value = picker.value; });
      text.addEventListener("input", function () {
        if (/^#[0-9a-fA-F]{6}$/.test(text.value)) { picker.value = text.value.toLowerCase(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", wireColourPickers);
  /* After "load": the browser has scrolled to the address's #section by then, which would
     otherwise take the focus back to the top of the document. */
  window.addEventListener("load", function () { window.setTimeout(focusFirstProblem, 0); });
  document.documentElement.setAttribute("data-enhanced", "");
})();
