/**
 * The dashboard's files: the page, its script and style (from ./public) and Chart.js from
 * node_modules — all from our own origin, so the page works offline and under a strict CSP.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';

const PUBLIC_DIR = join(dirname(fileURLToPath(import.meta.url)), 'public');
const CHART_JS = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

export const DASHBOARD_PATHS = {
  page: '/',
  review: '/review',
  assets: '/dashboard',
  chartJs: '/dashboard/vendor/chart.umd.min.js',
} as const;

export function createDashboardRouter(): express.Router {
  const router = express.Router();
  router.get(DASHBOARD_PATHS.page, (_req, res) => {
    res.set('Cache-Control', 'no-cache').sendFile(join(PUBLIC_DIR, 'index.html'));
  });
  router.get(DASHBOARD_PATHS.review, (_req, res) => {
    res.set('Cache-Control', 'no-cache').sendFile(join(PUBLIC_DIR, 'review.html'));
  });
  router.get(DASHBOARD_PATHS.chartJs, (_req, res) => {
    // pnpm keeps packages under node_modules/.pnpm: allow that dot-folder for this one known file.
    res.set('Cache-Control', 'public, max-age=86400').sendFile(CHART_JS, { dotfiles: 'allow' });
  });
  router.use(DASHBOARD_PATHS.assets, express.static(PUBLIC_DIR, { index: false, maxAge: 0, fallthrough: true }));
  return router;
}
