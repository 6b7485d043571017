export { startServer, stopServer, checkExposure, type ServerHandle, type StartServerOptions } from './server.ts';
export { createApp } from './app.ts';
export {
  openStore,
  storeOptions,
  StoreError,
  CursorError,
  type Store,
  type OpenStoreOptions,
  type RecordBatchInput,
  type RecordBatchResult,
  type StoredBatch,
  type StoredPrediction,
  type Page,
  type ListRunsQuery,
} from './store/index.ts';
export type { AppDeps, ServerState } from './deps.ts';
