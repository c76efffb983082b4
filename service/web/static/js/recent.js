// The recent classifications with their final values: the verdict's topic and lead when there is one.
import { api } from './api.js';
import { pathText } from './card.js';
import { errorText, fill, fmtTime, h } from './util.js';

const COLUMNS = ['时间', '标题 / 正文', '分类', '主办单位', '引擎', '复核', '处理', ''];

function verdictCell(fb) {
  if (!fb) return h('span', { class: 'muted nowrap' }, '待处理');
  const who = [fb.editor, fb.created_at ? fmtTime(fb.created_at) : null].filter(Boolean).join(' · ');
  return [h('span', { class: `badge ${fb.action === 'accept' ? 'ok' : 'warn'}` }, fb.action === 'accept' ? '已采纳' : '已纠正'),
    who ? h('span', { class: 'meta', style: { display: 'block' } }, who) : null];
}

/** A final value, with the model's own when the verdict changed it. */
function finalValue(final, model) {
  if (!final || final === model) return model || '—';
  return [final, h('span', { class: 'meta', style: { display: 'block' } }, `模型：${model || '—'}`)];
}

/** Render the newest 20 into `box`; `onLoad(row)` puts a row back into the form. */
export async function loadRecent(box, onLoad) {
  try {
    const list = await api('/v1/classifications?limit=20');
    if (!list.data.length) { fill(box, h('p', { class: 'muted' }, '暂无分类记录。')); return; }
    const cell = (i, attrs, ...content) => h('td', { ...attrs, dataset: { label: COLUMNS[i] } },
      h('span', { class: 'cell' }, ...content));
    fill(box, h('table', { id: 'recent-table', class: 'stack' },
      h('caption', { class: 'visually-hidden' }, '最近 20 条分类记录，最新的在前'),
      h('thead', {}, h('tr', {}, COLUMNS.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.data.map((row) => {
        const fb = row.feedback;
        const finalPath = fb && fb.topic_path ? pathText(fb.topic_path) : null;
        return h('tr', {},
          cell(0, { class: 'nowrap' }, fmtTime(row.created_at)),
          cell(1, { class: 'excerpt', title: row.text }, row.title ? h('strong', {}, `${row.title}　`) : null, row.text),
          cell(2, {}, finalValue(finalPath, pathText(row.topic_path || []))),
          cell(3, {}, finalValue(fb ? fb.lead : null, row.lead_department)),
          cell(4, { class: 'nowrap' }, row.engine),
          cell(5, { class: 'nowrap' }, row.needs_review ? h('span', { class: 'badge warn' }, '需复核')
            : h('span', { class: 'badge ok' }, '无需复核')),
          cell(6, {}, verdictCell(fb)),
          cell(7, { class: 'nowrap' }, h('button', { type: 'button', class: 'link',
            'aria-label': `载入“${(row.title || row.text).slice(0, 20)}”`, onclick: () => onLoad(row) }, '载入')));
      }))));
  } catch (err) {
    fill(box, h('p', { class: 'muted' }, `无法加载最近记录：${errorText(err)}`));
  }
}
