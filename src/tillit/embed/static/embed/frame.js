/* The framed sign-up form tells the page around it how tall it is (and nothing else), so the
   frame grows to fit; embed/signup.js listens. A browser does not autofocus inside a frame
   from another site, so what a page would autofocus (the form's errors, the "check your
   e-mail" heading) is focused here, after the visitor's own submit. */
(function () {
  "use strict";
  if (window.parent === window) return;
  function tell() {
    /* The body's own height (the document's is never less than the frame's, so a shorter
       page, such as the one after a sign-up, would never shrink it). */
    var body = document.body;
    var height = Math.ceil(body.getBoundingClientRect().bottom + window.scrollY +
      parseFloat(getComputedStyle(body).marginBottom || "0"));
    window.parent.postMessage({ tillit: "height", height: height }, "*");
  }
  window.addEventListener("load", function () {
    tell();
    var first = document.querySelector("[data-focus]");
    if (first) first.focus();
  });
  if (window.ResizeObserver) new ResizeObserver(tell).observe(document.body);
})();
