// A keyboard-first list of items to decide (the work queue and batch paste share it):
// j/k or ↓/↑ move, a or Enter accepts, c corrects (or revises a verdict), Esc closes the correction form.
import { api } from './api.js';
import { departmentOptions, loadLabels, topicOptions } from './correction.js';
import { combobox } from './picker.js';
import { announce, errorText, fill, fmtTime, h, pct } from './util.js';

export const STATUS_NAMES = { pending: '待处理', needs_review: '需复核', accepted: '已采纳', corrected: '已纠正' };
const STATUS_CLASS = { pending: '', needs_review: 'warn', accepted: 'ok', corrected: 'lead' };

export const pathText = (path) => (path && path.length ? path.join(' › ') : '—');

export function unitNames(directory) {
  return [...(directory.units || []), ...(directory.localities || [])].map((u) => u.name);
}

/** A prediction (POST /v1/classify) as a triage item. */
export function fromPrediction(p, source = {}) {
  const lead = (p.departments || []).find((d) => d.role === 'lead');
  const assists = (p.departments || []).filter((d) => d.role === 'assist').map((d) => d.name);
  const labels = { topic_path: p.topic_path, lead: lead ? lead.name : null, assists };
  return { classification_id: p.classification_id, item_id: p.id || null, title: source.title || '',
    text: source.text || '', status: p.needs_review ? 'needs_review' : 'pending', needs_review: p.needs_review,
    suggested: { ...labels, topic_confidence: p.topic_confidence }, final: labels, verdict: null,
    decided_by: null, decided_at: null };
}

function applyVerdict(item, fb) {
  const lead = fb.departments.find((d) => d.role === 'lead');
  item.status = fb.action === 'accept' ? 'accepted' : 'corrected';
  item.final = { topic_path: fb.topic_path, lead: lead ? lead.name : null,
    assists: fb.departments.filter((d) => d.role === 'assist').map((d) => d.name) };
  item.verdict = { id: fb.id, action: fb.action, editor: fb.editor, note: fb.note, decided_at: fb.created_at };
  item.decided_by = fb.editor;
  item.decided_at = fb.created_at;
}

/**
 * Mount a triage list into `root`. Returns {setItems(items), onKey(e), focusActive()}.
 * `prefix` keeps element ids unique per view; `onChanged(item)` runs after a verdict is stored.
 */
export function triageList(root, { prefix, emptyText, onChanged = () => {} }) {
  let items = [];
  let active = 0;
  let formFor = null; // classification_id whose correction form is open
  const list = h('ol', { id: `${prefix}-list`, class: 'triage-list', 'aria-label': '条目列表' });
  const msg = h('p', { id: `${prefix}-message`, role: 'status' });
  fill(root, msg, list);
  list.addEventListener('focusin', (e) => { // focusing an item (Tab, a click) makes it the one the keys act on
    if (!e.target.classList.contains('triage-item')) return;
    const index = [...list.children].indexOf(e.target);
    if (index >= 0 && index !== active) select(index, false);
  });

  function row(item, index) {
    const decided = item.status === 'accepted' || item.status === 'corrected';
    const changed = decided && (pathText(item.final.topic_path) !== pathText(item.suggested.topic_path)
      || item.final.lead !== item.suggested.lead);
    const li = h('li', { class: `triage-item${index === active ? ' is-active' : ''}`, tabindex: '-1',
      dataset: { id: item.classification_id, status: item.status }, 'aria-current': index === active ? 'true' : null,
      onclick: (e) => { if (!e.target.closest('button, input, select, textarea, form')) select(index, false); } },
    h('div', { class: 'triage-head' },
      h('span', { class: `badge ${STATUS_CLASS[item.status]}` }, STATUS_NAMES[item.status] || item.status),
      decided && item.needs_review ? h('span', { class: 'badge warn' }, '模型曾要求复核') : null,
      item.title ? h('strong', { class: 'triage-title' }, item.title) : null),
    h('p', { class: 'triage-text' }, item.text),
    h('p', { class: 'triage-labels' },
      h('span', { class: 'visually-hidden' }, decided ? '最终结论：' : '模型建议：'),
      h('span', { class: 'triage-topic' }, pathText(item.final.topic_path)), ' · 主办 ',
      h('span', { class: 'triage-lead' }, item.final.lead || '—'),
      item.final.assists && item.final.assists.length ? ` · 协办 ${item.final.assists.join('、')}` : '',
      decided ? '' : ` · 置信度 ${pct(item.suggested.topic_confidence)}`),
    changed ? h('p', { class: 'meta' }, `模型原建议：${pathText(item.suggested.topic_path)} · 主办 ${item.suggested.lead || '—'}`) : null,
    decided ? h('p', { class: 'meta triage-decided' }, `${STATUS_NAMES[item.status]}：${item.decided_by || '—'}，${fmtTime(item.decided_at)}`) : null,
    h('div', { class: 'actions' },
      item.status === 'accepted' ? null : h('button', { type: 'button', class: 'ok', dataset: { act: 'accept' },
        'aria-label': `${decided ? '改为采纳' : '采纳'}：${item.title || item.text.slice(0, 20)}`, onclick: () => { select(index, false); accept(); } },
      decided ? '改为采纳' : '采纳'),
      h('button', { type: 'button', dataset: { act: 'correct' }, 'aria-label': `${decided ? '修改结论' : '纠正'}：${item.title || item.text.slice(0, 20)}`,
        onclick: () => { select(index, false); openCorrection(); } }, decided ? '修改结论' : '纠正')));
    return li;
  }

  function render() {
    if (!items.length) { fill(list, h('li', { class: 'muted' }, emptyText)); return; }
    fill(list, ...items.map(row));
  }

  function select(index, focus = true) {
    if (!items.length) return;
    active = Math.max(0, Math.min(items.length - 1, index));
    for (const [i, li] of [...list.children].entries()) {
      li.classList.toggle('is-active', i === active);
      if (i === active) li.setAttribute('aria-current', 'true'); else li.removeAttribute('aria-current');
    }
    if (focus) focusActive();
  }

  function focusActive() {
    const li = list.children[active];
    if (li && li.classList.contains('triage-item')) { li.focus(); li.scrollIntoView({ block: 'nearest' }); }
  }

  async function send(item, body) {
    const fb = await api('/v1/feedback', { method: 'POST', json: { classification_id: item.classification_id, ...body } });
    applyVerdict(item, fb);
    return fb;
  }

  async function accept() {
    const item = items[active];
    if (!item || item.status === 'accepted') return;
    msg.className = 'muted';
    msg.textContent = '正在保存…';
    try {
      const fb = await send(item, { action: 'accept' });
      msg.className = 'success';
      msg.textContent = fb.duplicate ? '该条目已采纳，未重复保存。' : `已采纳：${pathText(item.final.topic_path)}，主办 ${item.final.lead || '—'}`;
      announce(msg.textContent);
      render();
      onChanged(item);
      select(active + 1 < items.length ? active + 1 : active);
    } catch (err) {
      msg.className = 'error';
      msg.textContent = `保存失败：${errorText(err)}`;
    }
  }

  async function openCorrection() {
    const item = items[active];
    if (!item) return;
    const li = list.children[active];
    let labels;
    try {
      labels = await loadLabels();
    } catch (err) {
      msg.className = 'error';
      msg.textContent = `无法加载分类体系或单位名录：${errorText(err)}`;
      return;
    }
    closeCorrection();
    formFor = item.classification_id;
    const topic = combobox({ id: `${prefix}-fix-topic`, label: '分类', hint: '可输入一级、二级或三级分类名称搜索',
      options: topicOptions(labels.taxonomy, { leaves: true }), value: JSON.stringify(item.final.topic_path) });
    const lead = combobox({ id: `${prefix}-fix-lead`, label: '主办单位', hint: '可输入全称、简称或别名',
      options: departmentOptions(labels.directory), value: item.final.lead });
    const note = h('input', { id: `${prefix}-fix-note`, type: 'text', autocomplete: 'off' });
    const formMsg = h('p', { role: 'alert', id: `${prefix}-fix-message` });
    const form = h('form', { class: 'triage-form', id: `${prefix}-fix-form`, novalidate: true, 'aria-label': '纠正结论' },
      topic.el, lead.el, h('label', { for: `${prefix}-fix-note` }, '备注', h('span', { class: 'hint' }, '（可选）')), note,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '提交纠正'),
        h('button', { type: 'button', onclick: () => { closeCorrection(); focusActive(); } }, '取消')), formMsg);
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); closeCorrection(); focusActive(); }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!topic.value) { formMsg.className = 'error'; formMsg.textContent = '请选择分类。'; topic.focus(); return; }
      if (!lead.value) { formMsg.className = 'error'; formMsg.textContent = '请选择主办单位。'; lead.focus(); return; }
      const assists = (item.final.assists || []).filter((a) => a !== lead.value);
      const body = { action: 'correct', topic: JSON.parse(topic.value),
        departments: [{ name: lead.value, role: 'lead' }, ...assists.map((name) => ({ name, role: 'assist' }))] };
      if (note.value.trim()) body.note = note.value.trim();
      try {
        const fb = await send(item, body);
        formFor = null;
        msg.className = 'success';
        msg.textContent = fb.duplicate ? '结论与现有结论相同，未重复保存。' : `已纠正：${pathText(item.final.topic_path)}，主办 ${item.final.lead}`;
        announce(msg.textContent);
        render();
        onChanged(item);
        select(active);
      } catch (err) {
        formMsg.className = 'error';
        formMsg.textContent = `提交失败：${errorText(err)}`;
      }
    });
    li.append(form);
    topic.focus();
  }

  function closeCorrection() {
    formFor = null;
    for (const f of list.querySelectorAll('.triage-form')) f.remove();
  }

  function onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || !items.length) return false;
    const t = e.target;
    if (t && (t.closest('input, textarea, select, [role=combobox], form') || t.isContentEditable)) return false;
    const key = e.key;
    if (key === 'j' || key === 'ArrowDown') select(active + 1);
    else if (key === 'k' || key === 'ArrowUp') select(active - 1);
    else if (key === 'a' || (key === 'Enter' && t && t.classList && t.classList.contains('triage-item'))) accept();
    else if (key === 'c') openCorrection();
    else return false;
    e.preventDefault();
    return true;
  }

  return {
    setItems(next, keepActive = false) {
      items = next;
      if (!keepActive) active = 0;
      active = Math.min(active, Math.max(items.length - 1, 0));
      formFor = null;
      render();
    },
    get items() { return items; },
    get formOpen() { return formFor !== null; },
    onKey,
    focusActive,
  };
}
