import { expect } from 'chai';
import { csvField, csvLine, parseCsv } from './csv.ts';

describe('csv', () => {
  it('round-trips fields with commas, quotes, newlines, non-ASCII and HTML', () => {
    const fields = ['a,b', 'say "hi"', 'line\nbreak', 'héllo wörld ✓', '<img src=x onerror=alert(1)>.png', ''];
    const back = parseCsv(csvLine(fields));
    expect(back).to.deep.equal([fields]);
  });

  it('neutralises spreadsheet formulas in text fields but not in numbers', () => {
    expect(csvField('=HYPERLINK("x")')).to.equal(`"'=HYPERLINK(""x"")"`);
    expect(csvLine([-1.5])).to.equal('"-1.5"\r\n');
  });

  it('reads a BOM, CRLF, unquoted fields and skips blank lines', () => {
    expect(parseCsv('\ufefffile,label\r\n\r\nx.png,Coat\r\n"y,1.png",3\n')).to.deep.equal([
      ['file', 'label'],
      ['x.png', 'Coat'],
      ['y,1.png', '3'],
    ]);
  });
});
