// 相似留言 / 可并案: the stored items like the one just classified, a side-by-side view, and 并案 (merge group).
import { api } from './api.js';
import { announce, errorText, fill, h, num } from './util.js';

const KIND = { duplicate: '重复件', same_matter: '同一事项' };

/** The panel beside the classify result: `show(request, result)` after each classification. */
export function similarPanel() {
  const list = h('div', { id: 'similar-list' }, h('p', { class: 'muted' }, '分类后在此列出相似的已存留言。'));
  const compare = h('div', { id: 'similar-compare', hidden: true });
  const msg = h('p', { id: 'similar-message', role: 'status', 'aria-live': 'polite' });
  const card = h('section', { class: 'card', id: 'similar', 'aria-labelledby': 'h-similar' },
    h('h2', { id: 'h-similar' }, '相似留言 / 可并案'), list, compare, msg);
  let current = null; // {request, result}

  function hint(group) {
    if (!group) return null;
    return h('p', { class: 'review', id: 'merge-hint', role: 'note' },
      `与并案组 ${group.group_id}${group.title ? `（${group.title}）` : ''} 的条目相似，`
      + `建议由该组主办单位办理：${group.lead_unit || '未指定'}`);
  }

  async function openCompare(item) {
    compare.hidden = false;
    fill(compare, h('p', { class: 'loading' }, '正在载入…'));
    try {
      const other = await api(`/v1/similar/items/${encodeURIComponent(item.id)}`);
      fill(compare,
        h('h3', { id: 'h-compare' }, '并排对照'),
        h('div', { class: 'grid-2 compare' },
          h('article', { 'aria-label': '本条' }, h('h4', {}, '本条'), h('p', {}, h('strong', {}, current.request.title || '')),
            h('p', { class: 'compare-text' }, current.request.text)),
          h('article', { 'aria-label': `相似条目 ${item.id}` }, h('h4', {}, `相似条目 ${item.id}`),
            h('p', {}, h('strong', {}, other.title || '')), h('p', { class: 'compare-text', id: 'compare-other' }, other.text),
            h('p', { class: 'meta' }, `${other.topic || '—'} · 主办 ${other.lead || '—'} · ${other.date || '—'}`))),
        h('button', { type: 'button', onclick: () => { compare.hidden = true; fill(compare); } }, '关闭对照'));
      compare.querySelector('h3').scrollIntoView({ block: 'nearest' });
    } catch (err) {
      fill(compare, h('p', { class: 'error' }, `无法载入：${errorText(err)}`));
    }
  }

  async function merge(boxes) {
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!chosen.length) { msg.className = 'error'; msg.textContent = '请先勾选要并案的相似留言。'; return; }
    msg.className = 'muted';
    msg.textContent = '正在并案…';
    try {
      const items = [current.result.classification_id, ...chosen];
      const group = await api('/v1/groups', { method: 'POST', json: { items, title: current.request.title || '' } });
      msg.className = 'success';
      msg.textContent = `已并案：${group.id}，共 ${group.size} 条，主条目为本条，主办单位 ${group.lead_unit || '未指定'}`;
      announce('已并案');
    } catch (err) {
      msg.className = 'error';
      msg.textContent = `并案失败：${errorText(err)}`;
    }
  }

  function show(request, result) {
    current = { request, result };
    compare.hidden = true;
    fill(compare);
    msg.textContent = '';
    const found = result.similar || [];
    if (!found.length) {
      fill(list, hint(result.merge_group), h('p', { class: 'muted', id: 'similar-none' }, '没有相似的已存留言。'));
      return;
    }
    const boxes = [];
    const rows = found.map((item) => {
      const box = h('input', { type: 'checkbox', value: item.id, id: `sim-${item.id}` });
      boxes.push(box);
      return h('li', { class: 'similar-item', dataset: { id: item.id, kind: item.kind } },
        h('label', { for: `sim-${item.id}` }, box,
          h('span', { class: `badge ${item.kind === 'duplicate' ? 'warn' : 'ok'}` }, KIND[item.kind] || item.kind),
          ` ${item.title || item.snippet.slice(0, 20)}`),
        h('span', { class: 'meta' }, ` 相似度 ${num(item.score, 2)} · ${item.topic || '—'} · 主办 ${item.lead || '—'}`
          + ` · ${item.date || '—'}${item.verdict ? ` · ${item.verdict === 'accept' ? '已采纳' : '已纠正'}` : ''}`),
        h('p', { class: 'excerpt' }, item.snippet),
        h('button', { type: 'button', class: 'link', onclick: () => openCompare(item) },
          '对照', h('span', { class: 'visually-hidden' }, ` ${item.id}`)));
    });
    fill(list, hint(result.merge_group), h('ul', { class: 'similar-list' }, rows),
      h('div', { class: 'actions' }, h('button', { type: 'button', id: 'merge-btn', onclick: () => merge(boxes) },
        '并案（本条为主条目）')));
  }

  return { card, show };
}
