export { startServer, stopServer, checkExposure, type ServerHandle, type StartServerOptions } from './server.ts';
export { createApp } from './app.ts';
export {
  MetricsStore,
  CursorError,
  type RecordBatchInput,
  type RecordBatchResult,
  type StoredBatch,
  type StoredPrediction,
  type Page,
  type ListRunsQuery,
} from './metrics-store.ts';
export type { AppDeps, ServerState } from './deps.ts';
