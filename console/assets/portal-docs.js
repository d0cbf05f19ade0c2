// A product's API reference: the Swagger UI the server serves (offline, from /api/docs) on the
// product's OpenAPI document. Calls are made from the product page's try-it form instead (the
// proxy is another origin), so Swagger UI's own "Try it out" is off.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger");
  if (!root || typeof SwaggerUIBundle !== "function") return;
  SwaggerUIBundle({ url: root.dataset.spec, dom_id: "#swagger", supportedSubmitMethods: [] });
});
