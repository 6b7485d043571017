/**
 * GET /openapi.json and GET /docs: Swagger UI served from the swagger-ui-dist package, so the page
 * works offline. Its start-up script is a file of ours, not inline, so the CSP stays 'self'.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { Router } from 'express';
import type { AppDeps } from '../deps.ts';
import { openApiDocument } from '../openapi.ts';

const swaggerDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>refund-vision API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;

export function docsRouter(deps: AppDeps): Router {
  const router = Router();
  // Built on first request: converting the zod schemas is work the start-up path does not need.
  let doc: string | undefined;
  router.get('/openapi.json', (_req, res) =>
    res.type('application/json').send((doc ??= JSON.stringify(openApiDocument(deps.classifier.version)))),
  );
  router.get('/docs', (_req, res) => res.type('html').send(PAGE));
  router.get('/docs/init.js', (_req, res) => res.type('application/javascript').send(INIT));
  router.use('/docs/assets', express.static(swaggerDir, { index: false, maxAge: '1d', fallthrough: true }));
  return router;
}
