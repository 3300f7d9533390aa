/* The console's Copy buttons: the snippet goes to the clipboard, and the page says so. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var box = document.getElementById(button.dataset.copy);
    var told = button.parentNode.querySelector(".copied");
    box.select();
    navigator.clipboard.writeText(box.value).then(function () {
      told.textContent = button.dataset.done || "✓";
    }, function () {
      told.textContent = "";
    });
  });
})();
