// 热点: groups of stored items ranked by size and growth, as a table and a bar chart.
import { api } from './api.js';
import { barChart } from './charts.js';
import { errorText, fill, h } from './util.js';

export const TITLE = '热点问题';

export function mount(root) {
  const from = h('input', { id: 'hot-from', type: 'date' });
  const to = h('input', { id: 'hot-to', type: 'date' });
  const out = h('div', { id: 'hotspots-out' }, h('p', { class: 'loading' }, '正在加载…'));
  const form = h('form', { id: 'hotspots-form', class: 'row' },
    h('div', {}, h('label', { for: 'hot-from' }, '起始日期'), from),
    h('div', {}, h('label', { for: 'hot-to' }, '结束日期'), to),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '查询')));
  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  root.append(h('section', { class: 'card', 'aria-labelledby': 'h-hot' }, h('h1', { id: 'h-hot' }, '热点问题'),
    h('p', { class: 'muted' }, '一段时间内反映同一事项的留言聚成的组，按条数和增长（最近 7 天与之前 7 天相比）排序。'),
    form, out));

  async function load() {
    const params = new URLSearchParams();
    if (from.value) params.set('from', from.value);
    if (to.value) params.set('to', to.value);
    fill(out, h('p', { class: 'loading' }, '正在加载…'));
    try {
      const body = await api(`/v1/hotspots?${params}`);
      if (!body.data.length) { fill(out, h('p', { class: 'muted', id: 'hotspots-none' }, '这段时间没有聚成组的留言。')); return; }
      const max = Math.max(...body.data.map((g) => g.size));
      const label = (g) => `${g.rank}. ${(g.representative.title || g.representative.snippet).slice(0, 16)}`;
      fill(out,
        barChart(body.data.slice(0, 10).map((g) => ({ label: label(g), value: g.size / max, note: `${g.size} 条` })),
          { id: 'hotspots-chart', title: '热点问题条数（相对最大组）' }),
        h('div', { class: 'table-wrap' }, h('table', { id: 'hotspots-table' },
          h('caption', { class: 'visually-hidden' }, '热点问题，按条数和增长排序'),
          h('thead', {}, h('tr', {}, ['排名', '代表条目', '条数', '增长', '分类', '地点', '时间跨度']
            .map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, body.data.map((g) => h('tr', {},
            h('td', {}, String(g.rank)),
            h('td', { class: 'excerpt', title: g.representative.snippet }, g.representative.title || g.representative.snippet),
            h('td', {}, String(g.size)),
            h('td', {}, `${g.growth >= 0 ? '+' : ''}${g.growth}（近期 ${g.recent}，此前 ${g.previous}）`),
            h('td', {}, g.topic || '—'),
            h('td', {}, (g.places || []).join('、') || '—'),
            h('td', { class: 'nowrap' }, g.first_date ? `${g.first_date} 至 ${g.last_date}` : '—')))))));
    } catch (err) {
      fill(out, h('p', { class: 'error', role: 'alert' }, `无法加载热点：${errorText(err)}`));
    }
  }
  load();
  return {};
}
