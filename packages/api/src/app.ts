/**
 * The Express app: security headers, the public probes, the public page shells (dashboard and API
 * docs), the key check, the load shedder, one router per protocol, the history router, then 404
 * and the one JSON error handler.
 */
import express, { type Express } from 'express';
import helmet from 'helmet';
import type { AppDeps } from './deps.ts';
import { requireApiKey } from './http/auth.ts';
import { errorHandler, notFoundHandler } from './http/errors.ts';
import { createLoadShedder } from './http/load-shed.ts';
import { markArrival } from './http/timing.ts';
import { createDashboardRouter } from './dashboard/static.ts';
import { createHistoryRouter } from './history/router.ts';
import { docsRouter } from './routes/docs.ts';
import { legacyRouter } from './routes/legacy.ts';
import { modelsRouter } from './routes/models.ts';
import { predictV1Router } from './routes/predict-v1.ts';
import { probesRouter } from './routes/probes.ts';
import { prometheusRouter } from './routes/prometheus.ts';
import { reviewRouter } from './review/router.ts';
import { runsRouter } from './routes/runs.ts';
import { uploadRouter } from './routes/upload.ts';
import type { UploadDecoder } from './upload-decoder.ts';
import { v2ErrorHandler, v2HealthRouter, v2Router } from './routes/v2.ts';

export function createApp(deps: AppDeps, uploads: UploadDecoder): Express {
  const { config, logger, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(markArrival);
  app.use(metrics.middleware());
  app.use(
    helmet({
      // Plain HTTP on loopback by default: no HSTS, no upgrade of our own asset requests.
      strictTransportSecurity: false,
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // Swagger UI and chart.js set inline style attributes.
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          upgradeInsecureRequests: null,
        },
      },
    }),
  );
  app.use(probesRouter(deps));
  app.use(v2HealthRouter(deps));
  // Static files that hold no data: a browser must load them before it can ask for the key.
  // The OpenAPI document only describes the routes (as the source does); Swagger UI fetches it
  // without credentials. Any other path falls through to the key check.
  app.use(createDashboardRouter());
  app.use(docsRouter(deps));
  if (config.api.apiKey) app.use(requireApiKey(config.api.apiKey));
  app.use(prometheusRouter(metrics));
  // Everything below is work: past the in-flight limit it is refused at once (probes are above).
  app.use(
    createLoadShedder({
      maxInFlight: config.api.maxInFlight,
      retryAfterSeconds: config.api.retryAfterSeconds,
      holdBodyMs: config.api.shedHoldBodyMs,
      state: deps.state,
    }).middleware,
  );
  app.use(predictV1Router(deps));
  app.use(uploadRouter(deps, uploads));
  app.use(legacyRouter(deps));
  app.use(runsRouter(deps));
  app.use(modelsRouter(deps));
  app.use(reviewRouter(deps));
  app.use(v2Router(deps));
  app.use(createHistoryRouter({ store: deps.store, config, logger, classifier: deps.classifier }));
  app.use(v2ErrorHandler);
  app.use(notFoundHandler);
  app.use(errorHandler(logger));
  return app;
}
