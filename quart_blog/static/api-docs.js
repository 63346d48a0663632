// Starts Swagger UI on /api/docs. A file of its own: the site's CSP allows no inline script.
"use strict";

(function () {
  var root = document.getElementById("api-reference");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    // No badge from validator.swagger.io: the page loads nothing from another site.
    validatorUrl: null,
    defaultModelsExpandDepth: 0,
    docExpansion: "list",
  });
})();
