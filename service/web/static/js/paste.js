// 批量粘贴: many items at once (one per line, or a table copied from Excel: tab-separated, optional header
// 标题/正文), classified through /v1/classify/batch, then triaged in a list with the keyboard.
import { api } from './api.js';
import { fromPrediction, triageList } from './triage.js';
import { announce, errorText, h } from './util.js';

export const TITLE = '批量粘贴';
const TITLE_NAMES = ['标题', 'title', '留言主题', '主题'];
const TEXT_NAMES = ['正文', 'text', '内容', '留言详情', '诉求内容'];
const ID_NAMES = ['编号', 'id', '序号'];

/** Parse pasted text: [{id?, title, text}]; a header row (标题/正文/编号) picks the columns. */
export function parsePaste(raw) {
  const lines = raw.replace(/\r\n?/g, '\n').split('\n').filter((l) => l.trim());
  if (!lines.length) return [];
  const tabular = lines.some((l) => l.includes('\t'));
  if (!tabular) return lines.map((l) => ({ title: '', text: l.trim() }));
  const cells = lines.map((l) => l.split('\t').map((c) => c.trim().replace(/^"(.*)"$/s, '$1')));
  const header = cells[0].map((c) => c.toLowerCase());
  const find = (names) => header.findIndex((c) => names.includes(c));
  let [iId, iTitle, iText] = [find(ID_NAMES), find(TITLE_NAMES), find(TEXT_NAMES)];
  let rows = cells;
  if (iText >= 0) rows = cells.slice(1);
  else if (cells[0].length >= 2) { [iId, iTitle, iText] = [-1, 0, 1]; } // 标题<Tab>正文 without a header
  else { iText = 0; }
  return rows.map((r) => ({ id: iId >= 0 ? r[iId] || undefined : undefined, title: iTitle >= 0 ? r[iTitle] || '' : '',
    text: r[iText] || '' })).filter((r) => r.text.trim());
}

export function mount(root) {
  let limit = 100;
  api('/v1/info').then((info) => { if (info.max_batch_size) limit = info.max_batch_size; }).catch(() => {});
  const area = h('textarea', { id: 'paste-input', 'aria-describedby': 'paste-hint', spellcheck: 'false' });
  const msg = h('p', { id: 'paste-message', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'paste-submit' }, '全部分类');
  const form = h('form', { id: 'paste-form', novalidate: true, 'aria-labelledby': 'h-paste' },
    h('h1', { id: 'h-paste' }, '批量粘贴'),
    h('label', { for: 'paste-input' }, '待分类内容'),
    area,
    h('p', { id: 'paste-hint', class: 'hint' }, '每行一条；也可直接粘贴从 Excel 复制的表格（列之间为制表符，首行可为“编号 / 标题 / 正文”表头；'
      + '没有表头的两列表格按“标题、正文”处理）。按 Ctrl+Enter 分类；分类后在列表中用 j/k 或 ↓/↑ 移动，a 或 Enter 采纳，c 纠正。'),
    h('div', { class: 'actions' }, submit), msg);
  const summary = h('p', { id: 'paste-summary', class: 'muted', role: 'status' });
  const listBox = h('div', { id: 'paste-items' });
  const results = h('section', { class: 'card', 'aria-labelledby': 'h-paste-list', hidden: true },
    h('h2', { id: 'h-paste-list' }, '分类结果'), summary, listBox);
  root.append(h('section', { class: 'card' }, form), results);
  const triage = triageList(listBox, { prefix: 'paste', emptyText: '没有条目。', onChanged: count });
  area.focus();

  function count() {
    const done = triage.items.filter((i) => i.status === 'accepted' || i.status === 'corrected').length;
    summary.textContent = `共 ${triage.items.length} 条，已处理 ${done} 条，待处理 ${triage.items.length - done} 条`;
  }

  area.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const items = parsePaste(area.value);
    if (!items.length) { msg.className = 'error'; msg.textContent = '请先粘贴要分类的内容（每行一条）。'; area.focus(); return; }
    submit.disabled = true;
    msg.className = 'muted';
    msg.textContent = `正在分类 ${items.length} 条…`;
    let i = 0;
    try {
      const out = [];
      for (i = 0; i < items.length; i += limit) {
        const chunk = items.slice(i, i + limit);
        const res = await api('/v1/classify/batch', { method: 'POST', json: { items: chunk } });
        res.data.forEach((p, j) => out.push(fromPrediction(p, chunk[j])));
      }
      msg.className = 'success';
      msg.textContent = `已分类 ${out.length} 条。`;
      results.hidden = false;
      triage.setItems(out);
      count();
      announce(`已分类 ${out.length} 条，按 j/k 移动，a 采纳，c 纠正`);
      triage.focusActive();
    } catch (err) {
      msg.className = 'error';
      const where = err.field && /^items\.(\d+)/.exec(err.field);
      msg.textContent = `分类失败：${errorText(err)}${where ? `（第 ${i + Number(where[1]) + 1} 条）` : ''}`;
    } finally {
      submit.disabled = false;
    }
  });

  return { onKey: (e) => triage.onKey(e) };
}
