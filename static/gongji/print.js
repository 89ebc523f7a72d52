// A printable page's Print button (any element with data-print). A file, not an onclick= handler:
// the Content-Security-Policy allows scripts from the site's own files only.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
});
