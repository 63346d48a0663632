// Starts Swagger UI on /api/docs. A file of its own: the site's CSP allows no inline script.
"use strict";

(function () {
  var root = document.getElementById("api-reference");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    // Deep links put an <a> inside each operation's toggle button: a control nested in a
    // control, which screen readers and keyboards handle badly (axe: nested-interactive).
    deepLinking: false,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    // No badge from validator.swagger.io: the page loads nothing from another site.
    validatorUrl: null,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
  });

  // Swagger UI's "copy" buttons (curl command, response body) are icons with no text:
  // give each the name a screen reader reads out (axe: button-name), as they appear.
  var COPY = "Copy to clipboard";
  function nameCopyButtons() {
    root.querySelectorAll(".copy-to-clipboard button:not([aria-label])").forEach(function (button) {
      button.setAttribute("aria-label", COPY);
      button.title = COPY;
    });
  }
  new MutationObserver(nameCopyButtons).observe(root, { childList: true, subtree: true });
})();
