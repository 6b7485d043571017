import { expect } from 'chai';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsv } from '@refund-vision/shared';
import { CSV_COLUMNS, RowJournal, renderCsv, writeResultsCsv } from './results-csv.ts';
import { tempDir } from './test-support.ts';

describe('results CSV', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('writes every column, escaped, sorted by file, and reads back', () => {
    const path = join(t.dir, 'r', 'run.csv');
    writeResultsCsv(path, [
      {
        file: 'b "quoted", <b>.png',
        group: 'G1',
        status: 'classified',
        classIndex: 9,
        confidence: 0.91234,
        top3: [
          { className: 'Ankle boot', confidence: 0.91234 },
          { className: 'Sneaker', confidence: 0.05 },
        ],
        orderId: 'O-1',
        expected: 7,
        review: 'mismatch',
        kind: 'photo',
        batch: 0,
        hash: 'ab',
      },
      { file: '=cmd.png', group: '', status: 'failed', detail: 'corrupt: truncated' },
    ]);
    const rows = parseCsv(readFileSync(path, 'utf8'));
    expect(rows[0]).to.deep.equal([...CSV_COLUMNS]);
    expect(rows[1]![0]).to.equal("'=cmd.png");
    expect(rows[1]![5]).to.equal('failed');
    expect(rows[2]).to.deep.equal([
      'b "quoted", <b>.png',
      'G1',
      'Ankle boot',
      '0.9123',
      'Ankle boot 0.9123; Sneaker 0.0500',
      'classified',
      '',
      'O-1',
      'Sneaker',
      'mismatch',
      'photo',
      '0',
      'ab',
    ]);
    expect(renderCsv([])).to.equal(`${CSV_COLUMNS.map((c) => `"${c}"`).join(',')}\r\n`);
  });

  it('journal: the latest row per file wins, a classified row is final, a torn line is ignored', () => {
    const j = new RowJournal(t.dir, 'run:1');
    j.append([
      { file: 'a.png', group: '', status: 'queued' },
      { file: 'b.png', group: '', status: 'failed', detail: 'corrupt' },
    ]);
    j.append([{ file: 'a.png', group: '', status: 'classified', classIndex: 1 }]);
    j.append([{ file: 'a.png', group: '', status: 'queued' }]);
    appendFileSync(j.path, '{"file":"c.png","sta');
    const rows = new RowJournal(t.dir, 'run:1').rows();
    expect(rows.map((r) => `${r.file}:${r.status}`).sort()).to.deep.equal(['a.png:classified', 'b.png:failed']);
    j.remove();
    expect(j.rows()).to.deep.equal([]);
  });
});
