import { expect } from 'chai';
import { CLASS_NAMES, parseCsv, RunSummary } from '@refund-vision/shared';
import { send, startTestServer, testBatch, type TestServer } from '../test-support.ts';
import { recordRun, type SeededRun } from '../dashboard/seed.ts';
import { csvCell, RUN_CSV_HEADER } from './csv.ts';
import { historySeries } from './aggregate.ts';

describe('history routes: feedback, summary, CSV, series', () => {
  let srv: TestServer;
  let labelled: SeededRun;
  let labels: number[];
  const ODD_NAME = 'G1/"quoted", with comma <b>.png';

  before(async () => {
    srv = await startTestServer();
    const a = await testBatch(200, 0);
    labels = a.labels;
    const ids = labels.map((_, i) => (i === 5 ? ODD_NAME : `G1/item-${i}.png`));
    labelled = await recordRun(srv.url, { runKey: 'hist-labelled', pixels: a.pixels, labels, ids, batchSize: 64 });
    const b = await testBatch(50, 1000);
    await recordRun(srv.url, { runKey: 'hist-open', pixels: b.pixels, complete: false });
  });
  after(async () => srv?.stop());

  const feedback = (id: number | string, body: unknown, headers?: Record<string, string>) =>
    send(`${srv.url}/v1/predictions/${id}/feedback`, { json: body, headers });

  describe('POST /v1/predictions/:id/feedback', () => {
    it('stores the correct class by index or name and reports the run’s feedback accuracy', async () => {
      const ids = labelled.predictionIds;
      let right = 0;
      for (let i = 0; i < 10; i++) {
        const res = await feedback(ids[i]!, { correctClass: labels[i] });
        expect(res.status, res.text).to.equal(200);
        if (labels[i] === labelled.classes[i]) right++;
        expect(res.body).to.include({
          predictionId: ids[i],
          correctClass: labels[i],
          predictedClass: labelled.classes[i],
          correct: labels[i] === labelled.classes[i],
        });
        expect(res.body.runFeedbackCount).to.equal(i + 1);
        expect(res.body.runFeedbackAccuracy).to.be.closeTo(right / (i + 1), 1e-12);
      }
      const byName = await feedback(ids[10]!, { correctClass: 'Ankle boot' });
      expect(byName.status).to.equal(200);
      expect(byName.body).to.include({ correctClass: 9, correctClassName: 'Ankle boot' });
      const loose = await feedback(ids[11]!, { correctClass: 'sneakers' });
      expect(loose.body.correctClass).to.equal(7);
      const confirmed = await feedback(ids[12]!, { correct: true });
      expect(confirmed.body).to.include({ correctClass: labelled.classes[12], correct: true });

      // The run detail (the API engineer's route) shows it too.
      const detail = await send(`${srv.url}/v1/runs/hist-labelled?limit=20`);
      const run = RunSummary.parse(detail.body.run);
      const expected = [...labels.slice(0, 10), 9, 7, labelled.classes[12]!];
      const rightAll = expected.filter((c, i) => c === labelled.classes[i]).length;
      expect(run.feedbackAccuracy).to.be.closeTo(rightAll / 13, 1e-12);
      expect(detail.body.predictions.slice(0, 13).map((p: any) => p.feedbackClass)).to.deep.equal(expected);
      expect(detail.body.predictions[13].feedbackClass).to.equal(null);
    });

    it('the latest word wins: a second answer replaces the first, never adds a row', async () => {
      const id = labelled.predictionIds[20]!;
      await feedback(id, { correctClass: 0 });
      const res = await feedback(id, { correctClass: 1 });
      expect(res.body.correctClass).to.equal(1);
      const rows = await srv.store.db.selectFrom('feedback').select('correct_class').where('prediction_id', '=', id).execute();
      expect(rows).to.deep.equal([{ correct_class: 1 }]);
    });

    it('unknown or malformed prediction ids are 404 with a JSON error', async () => {
      for (const id of [999_999, 0, 'abc', '1e3', '-4']) {
        const res = await feedback(id, { correctClass: 1 });
        expect(res.status, String(id)).to.equal(404);
        expect(res.body.error.code).to.equal('prediction-not-found');
      }
    });

    it('invalid classes and bodies are 4xx with a JSON error, and store nothing', async () => {
      const id = labelled.predictionIds[30]!;
      const cases: [unknown, number, string][] = [
        [{ correctClass: 10 }, 400, 'invalid-class'],
        [{ correctClass: -1 }, 400, 'invalid-class'],
        [{ correctClass: 2.5 }, 400, 'invalid-class'],
        [{ correctClass: 'Hat' }, 400, 'invalid-class'],
        [{ correctClass: '' }, 400, 'invalid-class'],
        [{}, 400, 'invalid-feedback'],
        [{ correct: false }, 400, 'invalid-feedback'],
        [{ correctClass: 1, extra: 1 }, 400, 'invalid-feedback'],
        [{ correctClass: null }, 400, 'invalid-feedback'],
        [[1], 400, 'invalid-feedback'],
        [{ correct: true, correctClass: (labelled.classes[30]! + 1) % 10 }, 400, 'invalid-feedback'],
      ];
      for (const [body, status, code] of cases) {
        const res = await feedback(id, body);
        expect(res.status, JSON.stringify(body)).to.equal(status);
        expect(res.body.error.code, JSON.stringify(body)).to.equal(code);
        expect(res.body.error.message)
          .to.be.a('string')
          .and.not.match(/at .*\.ts:\d+/);
      }
      const notJson = await send(`${srv.url}/v1/predictions/${id}/feedback`, {
        body: '{"correctClass":',
        headers: { 'content-type': 'application/json' },
      });
      expect(notJson.status).to.equal(400);
      const wrongType = await send(`${srv.url}/v1/predictions/${id}/feedback`, {
        body: 'correctClass=1',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(wrongType.status).to.equal(415);
      expect(await srv.store.db.selectFrom('feedback').select('id').where('prediction_id', '=', id).execute()).to.deep.equal([]);
    });
  });

  describe('GET /v1/summary', () => {
    it('adds up runs, images, confidence, accuracy from labels and from feedback, health and timing', async () => {
      const res = await send(`${srv.url}/v1/summary`);
      expect(res.status).to.equal(200);
      const s = res.body;
      const runs = (await send(`${srv.url}/v1/runs`)).body.runs.map((r: unknown) => RunSummary.parse(r));
      expect(s.runs).to.equal(2);
      expect(s.completedRuns).to.equal(1);
      expect(s.openRuns).to.equal(1);
      expect(s.images).to.equal(250);
      const confSum = runs.reduce((a: number, r: RunSummary) => a + r.meanConfidence! * r.images, 0);
      expect(s.meanConfidence).to.be.closeTo(confSum / 250, 1e-9);
      const right = labelled.classes.filter((c, i) => c === labels[i]).length;
      expect(s.accuracy).to.deep.equal({ value: right / 200, labelled: 200 });
      const given = await srv.store.db
        .selectFrom('feedback as f')
        .innerJoin('predictions as p', 'p.id', 'f.prediction_id')
        .select(['f.correct_class', 'p.class_index'])
        .execute();
      const fb = { n: given.length, r: given.filter((g) => g.correct_class === g.class_index).length };
      expect(s.feedbackAccuracy.count).to.equal(fb.n).and.be.above(0);
      expect(s.feedbackAccuracy.value).to.be.closeTo(fb.r / fb.n, 1e-12);
      const health = runs.find((r: RunSummary) => r.status === 'completed')!.health;
      expect(s.health[health]).to.equal(1);
      expect(s.health.unchecked).to.equal(1);
      // 4 batches of the labelled run + 1 of the open one; 2 runs.
      expect(s.serverMsPerPrediction.n).to.equal(5);
      expect(s.msPerPrediction.n).to.equal(2);
      expect(s.msPerPrediction.p50).to.be.above(0).and.at.most(s.msPerPrediction.p95);
      expect(s.serverMsPerPrediction.p50).to.be.above(0).and.at.most(s.serverMsPerPrediction.p95);
    });

    it('filters by time range and refuses bad ranges', async () => {
      const future = await send(`${srv.url}/v1/summary?from=2999-01-01`);
      expect(future.body).to.include({ runs: 0, images: 0, meanConfidence: null });
      expect(future.body.accuracy.value).to.equal(null);
      // The day the suite's runs started (not `new Date()`'s, which may be past UTC midnight by now).
      const started = await Promise.all(['hist-labelled', 'hist-open'].map(async (k) => (await srv.store.runs.getRunByKey(k))!.startedAt));
      const day = started[1]!.slice(0, 10);
      const byDay = await send(`${srv.url}/v1/summary?from=${day}&to=${day}`);
      expect(byDay.body.runs, 'a bare `to` date includes that whole day').to.equal(started.filter((s) => s.startsWith(day)).length);
      expect(byDay.body.runs).to.be.at.least(1);
      for (const q of ['from=yesterday', 'to=2026-13-45', 'from=2026-02-01&to=2026-01-01', 'from=1']) {
        const res = await send(`${srv.url}/v1/summary?${q}`);
        expect(res.status, q).to.equal(400);
        expect(res.body.error.code).to.be.a('string');
      }
    });
  });

  describe('GET /v1/runs.csv', () => {
    it('exports one row per run with the API’s figures, quoting what needs quoting', async () => {
      const res = await send(`${srv.url}/v1/runs.csv`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/csv/);
      expect(res.headers.get('content-disposition')).to.match(/attachment; filename="refund-vision-runs\.csv"/);
      const rows = parseCsv(res.text);
      expect(rows[0]).to.deep.equal(RUN_CSV_HEADER);
      expect(rows).to.have.length(3);
      const col = (name: string) => RUN_CSV_HEADER.indexOf(name);
      const row = rows.find((r) => r[col('run_key')] === 'hist-labelled')!;
      const run = (await srv.store.runs.getRun('hist-labelled'))!;
      expect(Number(row[col('images')])).to.equal(200);
      expect(Number(row[col('accuracy_labels')])).to.be.closeTo(run.accuracy!, 1e-6);
      expect(Number(row[col('accuracy_feedback')])).to.be.closeTo(run.feedbackAccuracy!, 1e-6);
      expect(Number(row[col('mean_confidence')])).to.be.closeTo(run.meanConfidence!, 1e-6);
      expect(row[col('health')]).to.equal(run.health);
      const counts = CLASS_NAMES.map((_, c) => Number(row[col('count_t_shirt_top') + c]));
      expect(counts.reduce((a, b) => a + b, 0)).to.equal(200);
      const open = rows.find((r) => r[col('run_key')] === 'hist-open')!;
      expect(open[col('status')]).to.equal('open');
      expect(open[col('health')]).to.equal('');
      const none = parseCsv((await send(`${srv.url}/v1/runs.csv?from=2999-01-01`)).text);
      expect(none).to.deep.equal([RUN_CSV_HEADER]);
    });

    it('cells that a spreadsheet would run as formulas are defused; quotes are doubled', () => {
      expect(csvCell('=HYPERLINK("http://x")')).to.equal(`"'=HYPERLINK(""http://x"")"`);
      expect(csvCell('+1')).to.equal("'+1");
      expect(csvCell('@SUM(A1)')).to.equal("'@SUM(A1)");
      expect(csvCell(-0.5)).to.equal('-0.5');
      expect(csvCell('a,b')).to.equal('"a,b"');
      expect(csvCell(null)).to.equal('');
      expect(parseCsv(`${csvCell(ODD_NAME)}\r\n`)).to.deep.equal([[ODD_NAME]]);
    });
  });

  describe('GET /v1/history', () => {
    it('returns one compact point per run in time order, with per-class confidence and both accuracies', async () => {
      const res = await send(`${srv.url}/v1/history?days=30`);
      expect(res.status).to.equal(200);
      const h = res.body;
      expect(h.bucket).to.equal('run');
      expect(h.points).to.equal(2);
      expect(h.t).to.have.length(2);
      expect(h.t[0]).to.be.at.most(h.t[1]);
      expect(h.label).to.deep.equal(['hist-labelled', 'hist-open']);
      expect(h.images).to.deep.equal([200, 50]);
      const run = (await srv.store.runs.getRun('hist-labelled'))!;
      expect(h.accuracy[0]).to.be.closeTo(run.accuracy!, 1e-5);
      expect(h.accuracy[1]).to.equal(null);
      expect(h.feedbackAccuracy[0]).to.be.closeTo(run.feedbackAccuracy!, 1e-5);
      expect(h.health).to.deep.equal([run.health, null]);
      expect(h.classConfidence).to.have.length(10);
      for (const c of run.perClass) {
        if (c.meanConfidence === null) expect(h.classConfidence[c.classIndex][0]).to.equal(null);
        else expect(h.classConfidence[c.classIndex][0]).to.be.closeTo(c.meanConfidence, 1e-5);
      }
      expect(h.recent.map((r: any) => r.runKey)).to.deep.equal(['hist-open', 'hist-labelled']);
      expect(h.baseline.meanConfidence).to.equal(srv.classifier.card.monitoring.meanConfidence);
    });

    it('a run moved back 40 days leaves the 30-day window; too many runs fold into days', async () => {
      const dir = await recordRun(srv.url, { runKey: 'hist-old', pixels: (await testBatch(5, 2000)).pixels });
      expect(dir.run?.status).to.equal('completed');
      await srv.store.runs.backdate('hist-old', new Date(Date.now() - 40 * 86_400_000));
      expect((await send(`${srv.url}/v1/history?days=30`)).body.points).to.equal(2);
      expect((await send(`${srv.url}/v1/history?days=60`)).body.label[0]).to.equal('hist-old');
      const folded = await historySeries(srv.store, { days: 60, maxPoints: 2 });
      expect(folded.bucket).to.equal('day');
      expect(folded.points).to.equal(2);
      expect(folded.images).to.deep.equal([5, 250]);
      expect(folded.runId).to.deep.equal([null, null]);
      for (const q of ['days=0', 'days=abc', 'days=99999', 'days=1.5'])
        expect((await send(`${srv.url}/v1/history?${q}`)).status, q).to.equal(400);
    });
  });
});
