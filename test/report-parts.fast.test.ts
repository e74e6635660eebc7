/** The report's pure parts: action geometry from both row shapes, escaping, histogram bins. */
import { describe, expect, it } from 'vitest';
import { histogram } from '../src/report/charts.ts';
import { escapeHtml, scriptJson } from '../src/report/html-escape.ts';
import { reportAction } from '../src/report/model.ts';

const name = (t: unknown) => String(t);

describe('reportAction', () => {
  it("reads an export's action: point, target box, typed text, key with modifiers, scroll, drag end", () => {
    const click = reportAction(
      { type: 'click', x: 961, y: 178, target: { role: 'textbox', name: 'Invoice #', bbox: [720, 160, 300, 44] } },
      name,
    );
    expect(click).toMatchObject({ type: 'click', at: [961, 178], box: [720, 160, 300, 44], target: 'textbox Invoice #', norm: null });
    expect(reportAction({ type: 'input_text', text: '[masked]' }, name).text).toBe('[masked]');
    expect(reportAction({ type: 'input_text', field: 'amount', value: '[masked]' }, name).text).toBe('[masked]');
    expect(reportAction({ type: 'key', key: 's', modifiers: ['Control'] }, name).key).toBe('Control+s');
    expect(reportAction({ type: 'scroll', x: 1, y: 2, dx: 0, dy: 480 }, name).scroll).toEqual([0, 480]);
    expect(reportAction({ type: 'drag', x: 1, y: 2, to: { x: 30, y: 40 } }, name).to).toEqual([30, 40]);
  });

  it("reads a dataset's action struct: ClassLabel id, x_norm/y_norm, to_x/to_y, the path inside args", () => {
    const a = reportAction(
      { type: 6n, x: 10, y: 20, x_norm: 0.5, y_norm: 0.25, to_x: 30, to_y: 40, target: null, args: '{"path":[[10,20],[20,30],[30,40]]}' },
      (t) => ['click', 'drag'][Number(t) === 6 ? 1 : 0]!,
    );
    expect(a).toMatchObject({
      type: 'drag',
      at: [10, 20],
      norm: [0.5, 0.25],
      to: [30, 40],
      path: [
        [10, 20],
        [20, 30],
        [30, 40],
      ],
      box: null,
    });
  });

  it('ignores what is not geometry: strings, bad JSON in args, too-long paths are cut', () => {
    const a = reportAction({ type: 'click', x: '[masked]', y: 3, args: '{not json' }, name);
    expect(a.at).toBeNull();
    const long = reportAction({ type: 'drag', path: Array.from({ length: 10_000 }, (_, i) => [i, i]) }, name);
    expect(long.path.length).toBe(256);
  });
});

describe('escaping', () => {
  it('escapes markup in HTML text and attributes', () => {
    expect(escapeHtml(`</script><img src=x onerror="a('b')">&`)).toBe(
      '&lt;/script&gt;&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;',
    );
  });
  it('script JSON has no <, >, & or line separators, and parses back to the same value', () => {
    const v = { s: '</script><script>alert(1)</script>&\u2028\u2029' };
    const text = scriptJson(v);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(v);
  });
});

describe('histogram', () => {
  it('covers every value with integer-width bins, at most the asked number', () => {
    const values = [1, 2, 2, 3, 50, 99, 100];
    const bins = histogram(values, 20);
    expect(bins.length).toBeLessThanOrEqual(20);
    expect(bins[0]!.lo).toBe(1);
    expect(bins[bins.length - 1]!.hi).toBeGreaterThanOrEqual(100);
    expect(bins.reduce((n, b) => n + b.count, 0)).toBe(values.length);
    expect(histogram([])).toEqual([]);
    expect(histogram([5, 5])).toEqual([{ lo: 5, hi: 5, count: 2 }]);
  });
});
