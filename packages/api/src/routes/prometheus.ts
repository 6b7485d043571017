/**
 * GET /metrics for Prometheus: request counts and latency by route and status, predictions by
 * class, a confidence histogram, and the model's version and engine. One registry per app, so
 * several servers in one process (tests) do not share counters.
 */
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { Router, type RequestHandler } from 'express';
import client from 'prom-client';
import { CLASS_NAMES } from '@refund-vision/shared';
import { METRICS_REPLY, METRICS_REQUEST } from '../cluster-protocol.ts';
import type { BatchPrediction } from '../store/index.ts';

export class ApiMetrics {
  readonly registry = new client.Registry();
  private readonly requests = new client.Counter({
    name: 'refund_vision_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly latency = new client.Histogram({
    name: 'refund_vision_http_request_duration_seconds',
    help: 'HTTP request latency by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly predictions = new client.Counter({
    name: 'refund_vision_predictions_total',
    help: 'Predictions by predicted class',
    labelNames: ['class'] as const,
    registers: [this.registry],
  });
  private readonly confidence = new client.Histogram({
    name: 'refund_vision_prediction_confidence',
    help: 'Max-probability of each prediction',
    buckets: [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1],
    registers: [this.registry],
  });
  private readonly modelInfo = new client.Gauge({
    name: 'refund_vision_model_info',
    help: 'The model being served (value 1)',
    labelNames: ['version', 'engine'] as const,
    registers: [this.registry],
    // every worker serves the same model: summing across workers would say 2
    aggregator: 'first',
  });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'refund_vision_' });
    for (const name of CLASS_NAMES) this.predictions.inc({ class: name }, 0);
  }

  setModel(version: string, engine: string) {
    this.modelInfo.reset();
    this.modelInfo.set({ version, engine }, 1);
  }

  observePredictions(preds: readonly BatchPrediction[]) {
    for (const p of preds) {
      this.predictions.inc({ class: CLASS_NAMES[p.classIndex]! });
      this.confidence.observe(p.confidence);
    }
  }

  /** Times every request; the route label is the matched pattern, never the raw URL. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const end = this.latency.startTimer();
      res.on('finish', () => {
        const route = req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : 'unmatched';
        const labels = { method: req.method, route, status: String(res.statusCode) };
        this.requests.inc(labels);
        end(labels);
      });
      next();
    };
  }
}

/**
 * In a cluster worker, a scrape reaches one worker: it asks the primary, which gathers every
 * worker's registry (prom-client's AggregatorRegistry) and answers with the sum. Falls back to
 * this worker's own numbers if the primary does not answer in time.
 */
function clusterMetrics(local: client.Registry): Promise<string> {
  return new Promise((resolve) => {
    const id = randomUUID();
    const onMessage = (m: { type?: string; id?: string; text?: string }) => {
      if (m?.type !== METRICS_REPLY || m.id !== id) return;
      finish(m.text);
    };
    const finish = (text: string | undefined) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      if (text !== undefined) resolve(text);
      else void local.metrics().then(resolve);
    };
    const timer = setTimeout(() => finish(undefined), 3000);
    process.on('message', onMessage);
    process.send!({ type: METRICS_REQUEST, id });
  });
}

export function prometheusRouter(metrics: ApiMetrics): Router {
  const router = Router();
  const inCluster = cluster.isWorker && !!process.send;
  if (inCluster) {
    // Constructing one installs prom-client's worker-side listener that answers the primary.
    new client.AggregatorRegistry();
    client.AggregatorRegistry.setRegistries([metrics.registry]);
  }
  router.get('/metrics', async (_req, res) => {
    const text = inCluster ? await clusterMetrics(metrics.registry) : await metrics.registry.metrics();
    res.set('Content-Type', metrics.registry.contentType).send(text);
  });
  return router;
}
