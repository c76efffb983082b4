// Inline SVG charts drawn here (no chart library): per-class F1 bars and a confusion-matrix heat map.
import { h, num, svg } from './util.js';

const FONT = 12;

/** Rough text width in px: CJK characters are about one em, others about half. */
function textWidth(s) {
  let w = 0;
  for (const ch of String(s)) w += /[\u2e80-\uffff]/.test(ch) ? FONT : FONT * 0.6;
  return w;
}

/** Horizontal bars for values in [0, 1]: rows = [{label, value, note?}]. */
export function barChart(rows, { id, title, description = '' }) {
  const labelW = Math.min(260, Math.max(60, ...rows.map((r) => textWidth(r.label))) + 10);
  const barW = 360;
  const rowH = 22;
  const top = 8;
  const width = labelW + barW + 60;
  const height = top + rows.length * rowH + 24;
  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  const chart = svg('svg', { id, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-labelledby': `${titleId} ${descId}` },
  svg('title', { id: titleId }, title),
  svg('desc', { id: descId }, description || rows.map((r) => `${r.label} ${num(r.value, 2)}`).join('；')));
  for (const x of [0, 0.25, 0.5, 0.75, 1]) {
    const gx = labelW + x * barW;
    chart.append(svg('line', { x1: gx, x2: gx, y1: top - 4, y2: top + rows.length * rowH, stroke: '#e3e6ea' }),
      svg('text', { x: gx, y: height - 6, 'text-anchor': 'middle', fill: '#666' }, x.toFixed(2)));
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const v = Math.max(0, Math.min(1, Number(r.value) || 0));
    const color = v >= 0.8 ? '#1d4ed8' : v >= 0.6 ? '#60a5fa' : '#f59e0b';
    chart.append(
      svg('text', { x: labelW - 8, y: y + rowH / 2 + 4, 'text-anchor': 'end' }, r.label),
      svg('rect', { class: 'bar', x: labelW, y: y + 3, width: Math.max(1, v * barW), height: rowH - 6, rx: 3, fill: color,
        'data-label': r.label, 'data-value': String(r.value) },
      svg('title', {}, `${r.label}：F1 ${num(r.value, 3)}${r.note ? `（${r.note}）` : ''}`)),
      svg('text', { x: labelW + v * barW + 6, y: y + rowH / 2 + 4 }, num(r.value, 2)));
  });
  return chart;
}

/** Rows and columns of a confusion matrix: `{labels, matrix}` (square) or `{rows, columns, matrix}` as stored by
 * training (columns may add labels that were only predicted). */
export function confusionAxes(confusion) {
  const rows = confusion.rows || confusion.labels || [];
  const columns = confusion.columns || confusion.labels || rows;
  return { rows, columns, matrix: confusion.matrix || [] };
}

/** Confusion matrix heat map (rows: true label, columns: predicted), shaded by each row's share. */
export function confusionChart(confusion, { id, title }) {
  const { rows, columns, matrix } = confusionAxes(confusion);
  const n = Math.max(rows.length, columns.length);
  const cell = Math.max(14, Math.min(40, Math.floor(640 / Math.max(1, n))));
  const rowLabelW = Math.min(220, Math.max(...rows.map(textWidth)) + 10);
  const colLabelH = Math.min(220, Math.max(...columns.map(textWidth)) * 0.87 + 10);
  const top = colLabelH + 24;
  const left = rowLabelW + 24;
  const width = left + cell * columns.length + 10;
  const height = top + cell * rows.length + 10;
  const titleId = `${id}-title`;
  const descId = `${id}-desc`;
  const total = matrix.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0);
  const correct = matrix.reduce((s, row, i) => s + (row[columns.indexOf(rows[i])] || 0), 0);
  const chart = svg('svg', { id, width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-labelledby': `${titleId} ${descId}` },
  svg('title', { id: titleId }, title),
  svg('desc', { id: descId }, `${rows.length} 个真实类别，共 ${total} 条，判对 ${correct} 条。行为真实类别，列为预测类别。`),
  svg('text', { x: left + (cell * columns.length) / 2, y: 12, 'text-anchor': 'middle', 'font-weight': '600' }, '预测类别 →'),
  svg('text', { x: 12, y: top + (cell * rows.length) / 2, 'text-anchor': 'middle', 'font-weight': '600',
    transform: `rotate(-90 12 ${top + (cell * rows.length) / 2})` }, '真实类别 →'));
  rows.forEach((label, i) => chart.append(
    svg('text', { x: left - 6, y: top + i * cell + cell / 2 + 4, 'text-anchor': 'end' }, label)));
  columns.forEach((label, j) => {
    const c = left + j * cell + cell / 2;
    chart.append(svg('text', { x: c, y: top - 6, 'text-anchor': 'start', transform: `rotate(-60 ${c} ${top - 6})` }, label));
  });
  matrix.forEach((row, i) => {
    const rowSum = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((v, j) => {
      const share = v / rowSum;
      const diagonal = rows[i] === columns[j];
      const fill = v === 0 ? '#f8fafc' : diagonal ? `rgba(29, 78, 216, ${0.15 + 0.85 * share})` : `rgba(220, 38, 38, ${0.15 + 0.85 * share})`;
      const x = left + j * cell;
      const y = top + i * cell;
      chart.append(svg('rect', { class: 'cell', x, y, width: cell - 1, height: cell - 1, fill },
        svg('title', {}, `真实 ${rows[i]} → 预测 ${columns[j]}：${v} 条（占该类 ${(share * 100).toFixed(0)}%）`)));
      if (v && cell >= 20) {
        chart.append(svg('text', { x: x + cell / 2, y: y + cell / 2 + 4, 'text-anchor': 'middle',
          fill: share > 0.55 ? '#fff' : '#111' }, String(v)));
      }
    });
  });
  return chart;
}

/** The same numbers as a table, for screen readers and copying. */
export function dataTable(caption, head, rows) {
  return h('details', {}, h('summary', {}, `${caption}（数据表）`),
    h('div', { class: 'table-wrap' }, h('table', {}, h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c, i) => (i ? h('td', { class: 'num' }, c) : h('th', { scope: 'row' }, c)))))))));
}
