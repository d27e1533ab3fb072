// Starts Swagger UI in <div id="swagger-ui" data-spec-url="...">. A file of its own, not an
// inline script, so that the page works under `Content-Security-Policy: script-src 'self'`.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: true,
    // Nothing leaves for the internet: no online validator badge (its default is
    // https://validator.swagger.io/validator), and no `?url=` / `?config=` in the page's
    // query string to load another document or configuration (off by default; kept off).
    validatorUrl: null,
    queryConfigEnabled: false,
    configUrl: null
  });
})();
