// 待办: the work queue — filter by status, topic, unit, editor, date; search the history; page; export; triage
// with the keyboard (j/k, a, c; / to search; n/p next/previous page).
import { api, download } from './api.js';
import { loadLabels } from './correction.js';
import { STATUS_NAMES, triageList, unitNames } from './triage.js';
import { announce, errorText, fill, h } from './util.js';

export const TITLE = '待办';
const FILTERS = ['status', 'topic', 'unit', 'editor', 'from', 'to', 'q'];
let saved = { status: 'pending' }; // the filters survive switching views (not a reload)

export function mount(root) {
  let page = 1;
  let pageSize = 20;
  let pages = 1;
  let loading = null;

  const field = (id, label, control) => h('div', {}, h('label', { for: id }, label), control);
  const q = h('input', { id: 'queue-q', type: 'search', autocomplete: 'off', placeholder: '标题或正文中的词，空格分隔',
    'aria-describedby': 'queue-q-hint' });
  const status = h('select', { id: 'queue-status' }, h('option', { value: '' }, '全部'),
    Object.entries(STATUS_NAMES).map(([v, t]) => h('option', { value: v }, t)));
  const topic = h('select', { id: 'queue-topic' }, h('option', { value: '' }, '全部'));
  const unit = h('input', { id: 'queue-unit', type: 'text', list: 'queue-units', autocomplete: 'off', placeholder: '全部' });
  const units = h('datalist', { id: 'queue-units' });
  const editor = h('input', { id: 'queue-editor', type: 'text', autocomplete: 'off', placeholder: '全部' });
  const from = h('input', { id: 'queue-from', type: 'date' });
  const to = h('input', { id: 'queue-to', type: 'date' });
  const controls = { status, topic, unit, editor, from, to, q };
  for (const name of FILTERS) controls[name].value = saved[name] || '';
  const formMsg = h('p', { id: 'queue-form-message', role: 'alert' });
  const form = h('form', { id: 'queue-filters', role: 'search', novalidate: true, 'aria-labelledby': 'h-queue' },
    h('h1', { id: 'h-queue' }, '待办与历史'),
    h('div', { class: 'row' }, field('queue-q', '全文检索', q)),
    h('p', { id: 'queue-q-hint', class: 'hint' }, '按 / 跳到检索框；列表中 j/k 或 ↓/↑ 移动，a 或 Enter 采纳，c 纠正或修改结论，n/p 翻页。'),
    h('div', { class: 'row' }, field('queue-status', '状态', status), field('queue-topic', '最终分类', topic),
      field('queue-unit', '最终主办单位', unit), units),
    h('div', { class: 'row' }, field('queue-editor', '下结论的编辑', editor), field('queue-from', '分类日期起', from),
      field('queue-to', '分类日期止', to)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'queue-apply' }, '筛选'),
      h('button', { type: 'button', id: 'queue-reset', onclick: reset }, '清除条件'),
      h('button', { type: 'button', id: 'queue-export-xlsx', onclick: () => exportAs('xlsx') }, '导出 Excel'),
      h('button', { type: 'button', id: 'queue-export-csv', onclick: () => exportAs('csv') }, '导出 CSV')),
    formMsg);
  const summary = h('p', { id: 'queue-summary', class: 'muted', role: 'status' });
  const listBox = h('div', { id: 'queue-items' });
  const prev = h('button', { type: 'button', id: 'queue-prev', onclick: () => go(page - 1) }, '上一页');
  const next = h('button', { type: 'button', id: 'queue-next', onclick: () => go(page + 1) }, '下一页');
  const size = h('select', { id: 'queue-page-size', onchange: () => { pageSize = Number(size.value); go(1); } },
    [20, 50, 100].map((n) => h('option', { value: String(n) }, `每页 ${n} 条`)));
  const pager = h('nav', { class: 'actions pager', 'aria-label': '翻页' }, prev,
    h('span', { id: 'queue-page' }), next, h('label', { for: 'queue-page-size', class: 'visually-hidden' }, '每页条数'), size);
  root.append(h('section', { class: 'card' }, form),
    h('section', { class: 'card', 'aria-labelledby': 'h-queue-list' },
      h('h2', { id: 'h-queue-list' }, '条目'), summary, listBox, pager));
  const triage = triageList(listBox, { prefix: 'queue', emptyText: '没有符合条件的条目。',
    onChanged: () => {
      const note = '（已处理的条目在刷新后移出此列表）';
      if ((status.value === 'pending' || status.value === 'needs_review') && !summary.textContent.endsWith(note)) {
        summary.textContent += note;
      }
    } });

  loadLabels().then((labels) => {
    for (const l1 of labels.taxonomy) topic.append(h('option', { value: l1.name }, l1.name));
    topic.value = saved.topic || '';
    fill(units, ...unitNames(labels.directory).map((n) => h('option', { value: n })));
  }).catch(() => { /* the filters still work by typing */ });

  function params() {
    const out = new URLSearchParams();
    for (const name of FILTERS) {
      const v = controls[name].value.trim();
      if (v) out.set(name, v);
    }
    return out;
  }

  function validate() {
    if (from.value && to.value && to.value < from.value) {
      formMsg.className = 'error';
      formMsg.textContent = '结束日期早于开始日期，请修改。';
      to.focus();
      return false;
    }
    formMsg.textContent = '';
    return true;
  }

  async function go(n, focusList = false) {
    if (!validate()) return;
    saved = Object.fromEntries(FILTERS.map((name) => [name, controls[name].value]));
    const query = params();
    query.set('page', String(Math.max(1, n)));
    query.set('page_size', String(pageSize));
    summary.textContent = '正在加载…';
    const mine = loading = api(`/v1/items?${query}`);
    let data;
    try {
      data = await mine;
    } catch (err) {
      if (mine !== loading) return;
      summary.textContent = '';
      formMsg.className = 'error';
      formMsg.textContent = `无法加载：${errorText(err)}`;
      return;
    }
    if (mine !== loading) return; // a newer request answers instead
    page = data.page;
    pages = Math.max(1, data.pages);
    summary.textContent = data.total ? `共 ${data.total} 条，第 ${page} / ${pages} 页` : '共 0 条';
    fill(document.getElementById('queue-page'), `第 ${page} / ${pages} 页`);
    prev.disabled = page <= 1;
    next.disabled = page >= pages;
    triage.setItems(data.data);
    announce(summary.textContent);
    if (focusList) triage.focusActive();
  }

  function reset() {
    for (const name of FILTERS) controls[name].value = '';
    go(1);
  }

  async function exportAs(format) {
    if (!validate()) return;
    const query = params();
    query.set('format', format);
    formMsg.className = 'muted';
    formMsg.textContent = '正在导出…';
    try {
      const name = await download(`/v1/items/export?${query}`, `待办导出.${format}`);
      formMsg.className = 'success';
      formMsg.textContent = `已导出 ${name}（最终标签；电话与身份证号已打码）`;
    } catch (err) {
      formMsg.className = 'error';
      formMsg.textContent = `导出失败：${errorText(err)}`;
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); go(1, true); });
  status.addEventListener('change', () => go(1));
  topic.addEventListener('change', () => go(1));
  go(1);
  q.focus();

  return {
    onKey(e) {
      const typing = e.target && e.target.closest && e.target.closest('input, textarea, select');
      if (!typing && !e.altKey && !e.ctrlKey && !e.metaKey) {
        if (e.key === '/') { e.preventDefault(); q.focus(); return; }
        if (e.key === 'n' && page < pages) { e.preventDefault(); go(page + 1, true); return; }
        if (e.key === 'p' && page > 1) { e.preventDefault(); go(page - 1, true); return; }
      }
      triage.onKey(e);
    },
    unmount() { loading = null; },
  };
}
