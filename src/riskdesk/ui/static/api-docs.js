// Starts Swagger UI on /api/v1/docs. A file of its own, not an inline script: the page's
// Content-Security-Policy allows scripts from this site only. The document's address is read
// from the page (data-openapi-url), so nothing here is tied to the API prefix.
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The default validator is a web service: no request leaves for the internet.
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    showExtensions: true,
    persistAuthorization: false
  });
})();
