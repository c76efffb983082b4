// The correction form (topic, lead, assisting units, note) and the in-form question asked before a shortcut
// would leave it: nothing typed there is ever dropped without the editor saying so.
import { api } from './api.js';
import { combobox } from './picker.js';
import { announce, errorText, fill, h } from './util.js';

let labelsPromise = null;

/** Taxonomy and directory, fetched once per page load. */
export function loadLabels() {
  if (!labelsPromise) {
    labelsPromise = Promise.all([api('/v1/taxonomy'), api('/v1/departments')])
      .then(([taxonomy, directory]) => ({ taxonomy: taxonomy.data, directory }))
      .catch((err) => { labelsPromise = null; throw err; });
  }
  return labelsPromise;
}

/** Combobox options for a topic path: every level 1 and level 2 (the latter listing its level-3 names), and with
 * `leaves` every level 3 as well (the triage list corrects down to level 3). */
export function topicOptions(tree, { leaves = false } = {}) {
  const out = [];
  for (const l1 of tree) {
    out.push({ value: JSON.stringify([l1.name]), label: l1.name, hint: '一级分类' });
    for (const l2 of l1.children || []) {
      const l3 = (l2.children || []).map((c) => (typeof c === 'string' ? c : c.name));
      out.push({ value: JSON.stringify([l1.name, l2.name]), label: `${l1.name} / ${l2.name}`,
        hint: l3.length ? `含：${l3.slice(0, 8).join('、')}${l3.length > 8 ? '…' : ''}` : '', search: l3.join(' ') });
      if (leaves) {
        for (const name of l3) {
          out.push({ value: JSON.stringify([l1.name, l2.name, name]), label: `${l1.name} / ${l2.name} / ${name}` });
        }
      }
    }
  }
  return out;
}

/** Combobox options for a receiving unit: its full name, with short names, aliases and id searchable. */
export function departmentOptions(directory) {
  const units = [...(directory.units || []), ...(directory.localities || [])];
  return units.map((u) => {
    const aliases = [u.short_name, ...(u.aliases || [])].filter((a) => a && a !== u.name);
    return { value: u.name, label: u.name,
      hint: [u.kind === 'locality' ? '镇街' : null, aliases.length ? `又称：${[...new Set(aliases)].join('、')}` : null]
        .filter(Boolean).join('；'),
      search: `${aliases.join(' ')} ${u.id || ''}` };
  });
}

/**
 * Fill `card` with the form. `start`: {topic: path, lead, assists: [names]} (the suggestion or the verdict being
 * revised). `send(body)` stores {action: 'correct', topic, departments, note?} and resolves to the stored row;
 * `blocked()` returns why it may not be sent now (a stale result) or null; `onClose()` runs when it closes.
 * Returns {isDirty(), submit(), focus(), ask(question, choices), close()} or null when the labels fail to load.
 */
export async function openCorrection(card, { start, send, blocked, onClose }) {
  card.hidden = false;
  fill(card, h('p', { class: 'loading' }, '正在加载分类体系与单位名录…'));
  let labels;
  try {
    labels = await loadLabels();
  } catch (err) {
    fill(card, h('p', { class: 'error', role: 'alert' }, `无法加载分类体系或单位名录：${errorText(err)}`));
    return null;
  }
  const deptOptions = departmentOptions(labels.directory);
  const startTopic = JSON.stringify((start.topic || []).slice(0, 2));
  const topicPicker = combobox({ id: 'fix-topic', label: '分类', hint: '可输入一级、二级或三级分类名称搜索',
    options: topicOptions(labels.taxonomy), value: startTopic });
  const leadPicker = combobox({ id: 'fix-lead', label: '主办单位', hint: '可输入全称、简称或别名',
    options: deptOptions, value: start.lead || null });
  const chipList = h('ul', { class: 'chips', id: 'fix-assists', 'aria-label': '已选协办单位' });
  const assistSet = new Set(start.assists || []);
  const startAssists = [...assistSet].sort().join('|');
  const renderChips = () => fill(chipList, ...[...assistSet].map((name) => h('li', {}, name,
    h('button', { type: 'button', 'aria-label': `移除协办单位 ${name}`, onclick: () => { assistSet.delete(name); renderChips(); } }, '×'))));
  renderChips();
  const assistPicker = combobox({ id: 'fix-assist-add', label: '添加协办单位', hint: '选定后自动加入上方列表',
    options: deptOptions,
    onChange: (o) => {
      if (o && !assistSet.has(o.value)) { assistSet.add(o.value); renderChips(); announce(`已添加协办单位 ${o.value}`); }
      if (o) setTimeout(() => assistPicker.clear(), 0);
    } });
  const note = h('textarea', { id: 'fix-note', class: 'short', 'aria-describedby': 'fix-keys' });
  const msg = h('p', { id: 'correction-message', role: 'alert' });
  const submitBtn = h('button', { type: 'submit', class: 'primary', id: 'correction-submit',
    'aria-keyshortcuts': 'Control+Enter' }, '提交纠正 ', h('kbd', {}, 'Ctrl+Enter'));
  const question = h('div', { id: 'correction-ask', hidden: true });
  const form = h('form', { id: 'correction-form', novalidate: true },
    topicPicker.el, leadPicker.el,
    h('p', { class: 'hint', style: { margin: '.6em 0 0' } }, '协办单位'), chipList, assistPicker.el,
    h('label', { for: 'fix-note' }, '备注', h('span', { class: 'hint' }, '（可选）')), note,
    h('p', { class: 'hint', id: 'fix-keys' }, '在此表单中按 Ctrl+Enter 提交纠正；Esc 取消。'),
    question,
    h('div', { class: 'actions' }, submitBtn, h('button', { type: 'button', id: 'correction-cancel', onclick: close }, '取消')),
    msg);

  let sending = false;
  const error = (text, focusEl) => { msg.className = 'error'; msg.textContent = text; if (focusEl) focusEl.focus(); };

  async function submit() {
    if (sending) return;
    const why = blocked();
    if (why) { error(why); return; }
    if (!topicPicker.value) { error('请选择分类。', topicPicker); return; }
    if (!leadPicker.value) { error('请选择主办单位。', leadPicker); return; }
    const departments = [{ name: leadPicker.value, role: 'lead' },
      ...[...assistSet].filter((n) => n !== leadPicker.value).map((name) => ({ name, role: 'assist' }))];
    const body = { action: 'correct', topic: JSON.parse(topicPicker.value), departments };
    if (note.value.trim()) body.note = note.value.trim();
    sending = true;
    submitBtn.disabled = true;
    msg.className = 'muted';
    msg.textContent = '正在提交…';
    try {
      await send(body);
      close();
    } catch (err) {
      error(`提交失败：${errorText(err)}`);
      if (err.field && err.field.startsWith('topic')) topicPicker.focus();
      else if (err.field && err.field.startsWith('departments')) leadPicker.focus();
    } finally {
      sending = false;
      submitBtn.disabled = false;
    }
  }

  function close() {
    card.hidden = true;
    fill(card);
    onClose();
  }

  /** An in-form question: `choices` = [{id, label, act}], the first is the default and gets focus. */
  function ask(text, choices) {
    const buttons = choices.map((c, i) => h('button', { type: 'button', id: c.id, class: i ? '' : 'primary',
      onclick: () => { question.hidden = true; fill(question); c.act(); } }, c.label));
    fill(question, h('div', { class: 'ask', role: 'alertdialog', 'aria-labelledby': 'ask-text', 'aria-modal': 'false' },
      h('p', { id: 'ask-text' }, text), h('div', { class: 'actions' }, buttons)));
    question.hidden = false;
    buttons[0].focus();
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  form.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    e.preventDefault();
    if (!question.hidden) { question.hidden = true; fill(question); topicPicker.focus(); return; }
    close();
  });
  fill(card, h('h2', { id: 'h-correct' }, '纠正分类与承办单位'), form);
  topicPicker.focus();

  return {
    isDirty: () => topicPicker.value !== startTopic || (leadPicker.value || null) !== (start.lead || null)
      || [...assistSet].sort().join('|') !== startAssists || note.value.trim() !== '',
    submit,
    ask,
    close,
    focus: () => topicPicker.focus(),
    setTopic: (path) => { topicPicker.setValue(JSON.stringify(path.slice(0, 2))); topicPicker.focus(); },
    setBlocked: (why) => { submitBtn.disabled = Boolean(why) || sending; if (why) error(why); else if (msg.className === 'error') msg.textContent = ''; },
  };
}
