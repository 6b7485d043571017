/**
 * The client's test tools (temp folders, its config, reading its events log, HTTP proxies that fail
 * or hold requests), imported by path from the client's own test support so that e2e tests and the
 * client's unit tests share one copy without it becoming part of the client package's exports.
 */
export { clientConfig, eventsText, flakyProxy, gateProxy, tempDir } from '../../packages/client/src/test-support.ts';
