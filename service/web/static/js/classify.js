// 分类与复核: paste → result with highlighted evidence → accept or correct → recent items.
import { api } from './api.js';
import { combobox } from './picker.js';
import { announce, bar, errorText, fill, fmtTime, h, pct } from './util.js';
import { similarPanel } from './similar.js';

export const TITLE = '分类与复核';

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

function topicOptions(tree) {
  const out = [];
  for (const l1 of tree) {
    out.push({ value: JSON.stringify([l1.name]), label: l1.name, hint: '一级分类' });
    for (const l2 of l1.children || []) {
      const l3 = (l2.children || []).map((c) => (typeof c === 'string' ? c : c.name));
      out.push({ value: JSON.stringify([l1.name, l2.name]), label: `${l1.name} / ${l2.name}`,
        hint: l3.length ? `含：${l3.slice(0, 8).join('、')}${l3.length > 8 ? '…' : ''}` : '', search: l3.join(' ') });
    }
  }
  return out;
}

function departmentOptions(directory) {
  const units = [...(directory.units || []), ...(directory.localities || [])];
  return units.map((u) => {
    const aliases = [u.short_name, ...(u.aliases || [])].filter((a) => a && a !== u.name);
    return { value: u.name, label: u.name,
      hint: [u.kind === 'locality' ? '镇街' : null, aliases.length ? `又称：${[...new Set(aliases)].join('、')}` : null]
        .filter(Boolean).join('；'),
      search: `${aliases.join(' ')} ${u.id || ''}` };
  });
}

function pathText(path) {
  return path.join(' › ');
}

/** Title and text with the explanation's spans as <mark>, shaded by |weight|. */
export function highlight(text, spans, strongest) {
  const out = [];
  let pos = 0;
  for (const sp of [...spans].sort((a, b) => a.start - b.start)) {
    if (sp.start < pos || sp.end > text.length) continue;
    if (sp.start > pos) out.push(text.slice(pos, sp.start));
    const rel = strongest > 0 ? Math.abs(sp.weight) / strongest : 0;
    if (rel < 0.08) {
      out.push(text.slice(sp.start, sp.end));
    } else {
      const sign = sp.weight >= 0 ? '+' : '−';
      out.push(h('mark', {
        class: `hl ${sp.weight >= 0 ? 'pos' : 'neg'}${rel > 0.6 && sp.weight > 0 ? ' strong' : ''}`,
        style: { '--a': (0.12 + 0.6 * rel).toFixed(2) },
        title: `${sp.weight >= 0 ? '支持' : '反对'}该分类，权重 ${sign}${Math.abs(sp.weight).toFixed(3)}`,
        dataset: { weight: String(sp.weight) },
      }, text.slice(sp.start, sp.end)));
    }
    pos = sp.end;
  }
  out.push(text.slice(pos));
  return out;
}

export function mount(root, ctx) {
  let result = null; // the last classification
  let request = null; // what was classified
  let labels = null;
  let busy = false;

  // ---------------------------------------------------------------- input
  const titleInput = h('input', { id: 'item-title', type: 'text', maxlength: '500', autocomplete: 'off' });
  const textInput = h('textarea', { id: 'item-text', required: true, 'aria-describedby': 'text-hint' });
  const idInput = h('input', { id: 'item-id', type: 'text', maxlength: '200', autocomplete: 'off' });
  const engineSelect = h('select', { id: 'item-engine' },
    h('option', { value: 'auto' }, '自动（有 BERT 时用 BERT 与 TF-IDF 的集成）'),
    h('option', { value: 'tfidf' }, 'TF-IDF'),
    h('option', { value: 'bert' }, 'BERT'));
  const formMsg = h('p', { id: 'classify-message', role: 'alert' });
  const classifyBtn = h('button', { type: 'submit', class: 'primary', id: 'classify-btn',
    'aria-keyshortcuts': 'Control+Enter' }, '分类 ', h('kbd', {}, 'Ctrl+Enter'));
  const form = h('form', { id: 'classify-form', 'aria-labelledby': 'h-input' },
    h('h1', { id: 'h-input' }, '待分类内容'),
    h('label', { for: 'item-title' }, '标题', h('span', { class: 'hint' }, '（可选）')),
    titleInput,
    h('label', { for: 'item-text' }, '正文'),
    textInput,
    h('p', { id: 'text-hint', class: 'hint' }, '粘贴群众留言、社情民意信息或政协提案的正文。'),
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'item-id' }, '编号', h('span', { class: 'hint' }, '（可选）')), idInput),
      h('div', {}, h('label', { for: 'item-engine' }, '模型引擎'), engineSelect)),
    h('div', { class: 'actions' }, classifyBtn,
      h('button', { type: 'reset', id: 'clear-btn' }, '清空')),
    formMsg);
  form.addEventListener('submit', (e) => { e.preventDefault(); classify(); });
  form.addEventListener('reset', () => { formMsg.textContent = ''; setTimeout(() => textInput.focus(), 0); });

  // --------------------------------------------------------------- result
  const resultSummary = h('div', { id: 'result-summary', class: 'summary', 'aria-live': 'polite', 'aria-atomic': 'true' },
    h('p', { class: 'muted' }, '在左侧粘贴内容后按“分类”或 Ctrl+Enter。'));
  const resultDetails = h('div', { id: 'result-details' });
  const evidence = h('div', { id: 'evidence' });
  const feedbackMsg = h('p', { id: 'feedback-message', role: 'status', 'aria-live': 'polite' });
  const acceptBtn = h('button', { type: 'button', class: 'ok', id: 'accept-btn', disabled: true,
    'aria-keyshortcuts': 'Alt+A', onclick: accept }, '采纳 ', h('kbd', {}, 'Alt+A'));
  const correctBtn = h('button', { type: 'button', id: 'correct-btn', disabled: true,
    'aria-keyshortcuts': 'Alt+C', onclick: () => openCorrection() }, '纠正 ', h('kbd', {}, 'Alt+C'));
  const resultCard = h('section', { class: 'card', id: 'result', 'aria-labelledby': 'h-result' },
    h('h2', { id: 'h-result' }, '分类结果'),
    resultSummary, resultDetails,
    h('div', { class: 'actions' }, acceptBtn, correctBtn),
    feedbackMsg);

  // ----------------------------------------------------------- correction
  const correctionCard = h('section', { class: 'card', id: 'correction', 'aria-labelledby': 'h-correct', hidden: true });
  const similar = similarPanel(); // 相似留言 / 可并案 (similar.js)

  // ---------------------------------------------------------------- recent
  const recentBody = h('div', { id: 'recent-list', class: 'table-wrap' }, h('p', { class: 'loading' }, '正在加载…'));
  const recentCard = h('section', { class: 'card', 'aria-labelledby': 'h-recent' },
    h('div', { class: 'row', style: { alignItems: 'baseline' } },
      h('h2', { id: 'h-recent', style: { flex: '1 1 auto' } }, '最近分类'),
      h('button', { type: 'button', id: 'recent-refresh', style: { flex: '0 0 auto' }, onclick: loadRecent }, '刷新')),
    recentBody);

  const shortcuts = h('section', { class: 'card shortcuts', 'aria-labelledby': 'h-keys' },
    h('h2', { id: 'h-keys' }, '键盘快捷键'),
    h('dl', {},
      h('dt', {}, h('kbd', {}, 'Ctrl+Enter')), h('dd', {}, '分类（在正文或标题中）'),
      h('dt', {}, h('kbd', {}, 'Alt+A')), h('dd', {}, '采纳当前结果'),
      h('dt', {}, h('kbd', {}, 'Alt+C')), h('dd', {}, '纠正当前结果（打开分类与单位选择）'),
      h('dt', {}, h('kbd', {}, 'Alt+1 / 2 / 3')), h('dd', {}, '切换到 分类与复核 / 档案批量分类 / 模型管理'),
      h('dt', {}, h('kbd', {}, '↑ ↓ Enter Esc')), h('dd', {}, '在搜索选择框中移动、选定、关闭'),
      h('dt', {}, h('kbd', {}, 'Tab')), h('dd', {}, '在控件间移动')));

  root.append(
    h('div', { class: 'grid-2' },
      h('div', {}, h('section', { class: 'card' }, form), h('section', { class: 'card', 'aria-labelledby': 'h-evidence' },
        h('h2', { id: 'h-evidence' }, '判断依据'), evidence)),
      h('div', {}, resultCard, similar.card, correctionCard, shortcuts)),
    recentCard);
  textInput.focus();

  // ---------------------------------------------------------------- logic
  async function classify() {
    if (busy) return;
    const text = textInput.value;
    if (!text.trim()) {
      formMsg.className = 'error';
      formMsg.textContent = '请先填写正文。';
      textInput.focus();
      return;
    }
    busy = true;
    classifyBtn.disabled = true;
    formMsg.className = 'muted';
    formMsg.textContent = '正在分类…';
    request = { title: titleInput.value, text, engine: engineSelect.value };
    if (idInput.value.trim()) request.id = idInput.value.trim();
    try {
      result = await api('/v1/classify', { method: 'POST', json: { ...request, top_k: 5, similar: 5 } });
      formMsg.textContent = '';
      renderResult();
      similar.show(request, result);
      closeCorrection();
      feedbackMsg.textContent = '';
      explain();
      loadRecent();
    } catch (err) {
      formMsg.className = 'error';
      formMsg.textContent = `分类失败：${errorText(err)}`;
      if (err.field === 'text') textInput.focus();
      else if (err.field === 'title') titleInput.focus();
    } finally {
      busy = false;
      classifyBtn.disabled = false;
    }
  }

  function renderResult() {
    const r = result;
    const alternatives = r.topic_candidates.filter((c) => pathText(c.topic_path) !== pathText(r.topic_path)).slice(0, 3);
    const lead = r.departments.find((d) => d.role === 'lead');
    const assists = r.departments.filter((d) => d.role === 'assist');
    fill(resultSummary, 
      r.needs_review
        ? h('div', { class: 'review', id: 'review-flag', role: 'note' },
          h('strong', {}, '⚠ 需人工复核'),
          h('ul', { id: 'review-reasons' }, r.review_reasons.map((reason) => h('li', {}, reason))))
        : h('div', { class: 'review-ok', id: 'review-flag', role: 'note' }, '✓ 置信度达标，无需复核（仍可纠正）'),
      h('p', { class: 'topic-path', id: 'topic-path' },
        r.topic_path.flatMap((p, i) => (i ? [h('span', { class: 'sep', 'aria-hidden': 'true' }, '›'), p] : [p]))),
      bar(r.topic_path_confidence, '分类路径置信度', { low: 0.5 }),
      h('p', { class: 'meta' }, `一级分类“${r.topic}”置信度 ${pct(r.topic_confidence)}`));
    fill(resultDetails, 
      h('h3', {}, '其他可能的分类'),
      alternatives.length
        ? h('ul', { class: 'plain', id: 'alternatives' }, alternatives.map((c) => h('li', { class: 'cand' },
          h('span', {}, pathText(c.topic_path)), bar(c.confidence, `备选 ${pathText(c.topic_path)}`),
          h('button', { type: 'button', class: 'link', onclick: () => openCorrection({ topic: c.topic_path }),
            'aria-label': `改为 ${pathText(c.topic_path)}` }, '改为此类'))))
        : h('p', { class: 'muted' }, '无'),
      h('h3', {}, '承办单位'),
      h('ul', { class: 'plain', id: 'departments' },
        lead ? h('li', { class: 'cand' }, h('span', {}, h('span', { class: 'badge lead' }, '主办'), ' ', lead.name),
          bar(lead.confidence, `主办单位 ${lead.name} 置信度`, { low: 0.4 }), h('span')) : null,
        assists.map((d) => h('li', { class: 'cand' }, h('span', {}, h('span', { class: 'badge' }, '协办'), ' ', d.name),
          bar(d.confidence, `协办单位 ${d.name} 参与概率`), h('span'))),
        assists.length ? null : h('li', { class: 'muted' }, '无建议的协办单位')),
      h('dl', { class: 'kv meta', id: 'model-info' },
        h('dt', {}, '引擎'), h('dd', { id: 'result-engine' }, r.engine),
        h('dt', {}, '模型版本'), h('dd', { id: 'result-version' }, r.model_version),
        r.classification_id !== undefined ? [h('dt', {}, '分类编号'), h('dd', {}, String(r.classification_id))] : null));
    acceptBtn.disabled = false;
    correctBtn.disabled = false;
    announce(`分类完成：${pathText(r.topic_path)}，置信度 ${pct(r.topic_path_confidence)}，`
      + `主办 ${lead ? lead.name : '无'}${r.needs_review ? '，需人工复核' : ''}`);
  }

  async function explain() {
    const req = request;
    fill(evidence, h('p', { class: 'loading' }, '正在计算判断依据…'));
    try {
      const ex = await api('/v1/explain', { method: 'POST',
        json: { title: req.title, text: req.text, engine: result.engine, topic: result.topic_path } });
      if (req !== request) return;
      const all = [...ex.spans, ...ex.title_spans];
      const strongest = Math.max(0, ...all.map((s) => Math.abs(s.weight)));
      const byWord = new Map();
      for (const s of all) byWord.set(s.text, (byWord.get(s.text) || 0) + s.weight);
      const top = [...byWord].filter(([, w]) => w > 0).sort((a, b) => b[1] - a[1]).slice(0, 8);
      fill(evidence, 
        h('p', { class: 'muted' }, `以下高亮的词推动模型判为“${pathText(ex.topic_path)}”（`,
          ex.method === 'linear' ? 'TF-IDF 特征贡献 = 系数 × 权重' : '逐词删除后该分类对数几率的下降', '）。'),
        h('div', { class: 'highlighted', id: 'highlighted-text' },
          req.title ? h('span', { class: 'hl-title', id: 'highlighted-title' }, highlight(req.title, ex.title_spans, strongest)) : null,
          highlight(req.text, ex.spans, strongest)),
        h('div', { class: 'legend', 'aria-hidden': 'true' },
          h('span', {}, h('span', { class: 'sw', style: { background: 'rgba(220,38,38,.6)' } }), '支持该分类（越深越重要）'),
          h('span', {}, h('span', { class: 'sw', style: { background: 'rgba(37,99,235,.5)' } }), '不支持该分类')),
        h('p', { id: 'top-words' }, h('strong', {}, '主要依据：'),
          top.length ? top.map(([word, w]) => `${word}（+${w.toFixed(2)}）`).join('、') : '无明显关键词'));
    } catch (err) {
      if (req === request) fill(evidence, h('p', { class: 'muted' }, `无法获取判断依据：${errorText(err)}`));
    }
  }

  function feedbackBase() {
    const body = { title: request.title, text: request.text };
    if (result.classification_id !== undefined && result.classification_id !== null) {
      body.classification_id = result.classification_id;
    }
    if (request.id) body.item_id = request.id;
    return body;
  }

  async function accept() {
    if (!result || acceptBtn.disabled) return;
    acceptBtn.disabled = true;
    feedbackMsg.className = 'muted';
    feedbackMsg.textContent = '正在提交…';
    try {
      const fb = await api('/v1/feedback', { method: 'POST', json: { ...feedbackBase(), action: 'accept',
        topic: result.topic_path, departments: result.departments.map(({ name, role }) => ({ name, role })) } });
      feedbackMsg.className = 'success';
      feedbackMsg.textContent = `已采纳（反馈编号 ${fb.id}）。`;
      announce('已采纳');
      closeCorrection();
      loadRecent();
    } catch (err) {
      feedbackMsg.className = 'error';
      feedbackMsg.textContent = `采纳失败：${errorText(err)}`;
    } finally {
      acceptBtn.disabled = false;
    }
  }

  async function openCorrection(preset = {}) {
    if (!result) return;
    correctionCard.hidden = false;
    fill(correctionCard, h('p', { class: 'loading' }, '正在加载分类体系与单位名录…'));
    try {
      labels = await loadLabels();
    } catch (err) {
      fill(correctionCard, h('p', { class: 'error', role: 'alert' }, `无法加载分类体系或单位名录：${errorText(err)}`));
      return;
    }
    const deptOptions = departmentOptions(labels.directory);
    const lead = result.departments.find((d) => d.role === 'lead');
    const assists = result.departments.filter((d) => d.role === 'assist').map((d) => d.name);
    const topicPicker = combobox({ id: 'fix-topic', label: '分类', hint: '可输入一级、二级或三级分类名称搜索',
      options: topicOptions(labels.taxonomy), value: JSON.stringify(preset.topic || result.topic_path) });
    const leadPicker = combobox({ id: 'fix-lead', label: '主办单位', hint: '可输入全称、简称或别名',
      options: deptOptions, value: lead ? lead.name : null });
    const chipList = h('ul', { class: 'chips', id: 'fix-assists', 'aria-label': '已选协办单位' });
    const assistSet = new Set(assists);
    const renderChips = () => fill(chipList, ...[...assistSet].map((name) => h('li', {}, name,
      h('button', { type: 'button', 'aria-label': `移除协办单位 ${name}`, onclick: () => { assistSet.delete(name); renderChips(); } }, '×'))));
    renderChips();
    const assistPicker = combobox({ id: 'fix-assist-add', label: '添加协办单位', hint: '选定后自动加入上方列表',
      options: deptOptions,
      onChange: (o) => {
        if (o && !assistSet.has(o.value)) { assistSet.add(o.value); renderChips(); announce(`已添加协办单位 ${o.value}`); }
        if (o) setTimeout(() => assistPicker.clear(), 0);
      } });
    const note = h('textarea', { id: 'fix-note', style: { minHeight: '3em' } });
    const msg = h('p', { id: 'correction-message', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'correction-submit' }, '提交纠正');
    const form = h('form', { id: 'correction-form' },
      topicPicker.el, leadPicker.el,
      h('p', { class: 'hint', style: { margin: '.6em 0 0' } }, '协办单位'), chipList, assistPicker.el,
      h('label', { for: 'fix-note' }, '备注', h('span', { class: 'hint' }, '（可选）')), note,
      h('div', { class: 'actions' }, submit, h('button', { type: 'button', onclick: closeCorrection }, '取消')),
      msg);
    form.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.preventDefault(); closeCorrection(); correctBtn.focus(); } });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!topicPicker.value) { msg.className = 'error'; msg.textContent = '请选择分类。'; topicPicker.focus(); return; }
      if (!leadPicker.value) { msg.className = 'error'; msg.textContent = '请选择主办单位。'; leadPicker.focus(); return; }
      const departments = [{ name: leadPicker.value, role: 'lead' },
        ...[...assistSet].filter((n) => n !== leadPicker.value).map((name) => ({ name, role: 'assist' }))];
      submit.disabled = true;
      msg.className = 'muted';
      msg.textContent = '正在提交…';
      try {
        const body = { ...feedbackBase(), action: 'correct', topic: JSON.parse(topicPicker.value), departments };
        if (note.value.trim()) body.note = note.value.trim();
        const fb = await api('/v1/feedback', { method: 'POST', json: body });
        closeCorrection();
        feedbackMsg.className = 'success';
        feedbackMsg.textContent = `已保存纠正（反馈编号 ${fb.id}）：${pathText(fb.topic_path || body.topic)}，`
          + `主办 ${leadPicker.value}`;
        announce('纠正已保存');
        correctBtn.focus();
        loadRecent();
      } catch (err) {
        msg.className = 'error';
        msg.textContent = `提交失败：${errorText(err)}`;
        if (err.field && err.field.startsWith('topic')) topicPicker.focus();
        else if (err.field && err.field.startsWith('departments')) leadPicker.focus();
      } finally {
        submit.disabled = false;
      }
    });
    fill(correctionCard, h('h2', { id: 'h-correct' }, '纠正分类与承办单位'), form);
    topicPicker.focus();
  }

  function closeCorrection() {
    correctionCard.hidden = true;
    fill(correctionCard);
  }

  function feedbackCell(fb) {
    if (!fb) return h('span', { class: 'muted' }, '待处理');
    if (fb.action === 'accept') return h('span', { class: 'badge ok' }, '已采纳');
    const path = fb.topic_path || (Array.isArray(fb.topic) ? fb.topic : [fb.topic]);
    return h('span', { class: 'badge warn', title: fb.editor ? `由 ${fb.editor} 纠正` : '' }, `已纠正：${pathText(path.filter(Boolean))}`);
  }

  async function loadRecent() {
    try {
      const list = await api('/v1/classifications?limit=20');
      if (!list.data.length) { fill(recentBody, h('p', { class: 'muted' }, '暂无分类记录。')); return; }
      fill(recentBody, h('table', { id: 'recent-table' },
        h('caption', { class: 'visually-hidden' }, '最近 20 条分类记录，最新的在前'),
        h('thead', {}, h('tr', {}, ['时间', '标题 / 正文', '分类', '主办单位', '引擎', '复核', '反馈', '']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, list.data.map((row) => h('tr', {},
          h('td', { class: 'nowrap' }, fmtTime(row.created_at)),
          h('td', { class: 'excerpt', title: row.text }, row.title ? h('strong', {}, `${row.title}　`) : null, row.text),
          h('td', {}, pathText(row.topic_path || [])),
          h('td', {}, row.lead_department || '—'),
          h('td', { class: 'nowrap' }, row.engine),
          h('td', { class: 'nowrap' }, row.needs_review ? h('span', { class: 'badge warn' }, '需复核') : h('span', { class: 'badge ok' }, '否')),
          h('td', {}, feedbackCell(row.feedback)),
          h('td', { class: 'nowrap' }, h('button', { type: 'button', class: 'link', 'aria-label': `载入“${(row.title || row.text).slice(0, 20)}”`,
            onclick: () => { titleInput.value = row.title || ''; textInput.value = row.text; idInput.value = row.item_id || ''; textInput.focus(); } },
          '载入')))))));
    } catch (err) {
      fill(recentBody, h('p', { class: 'muted' }, `无法加载最近记录：${errorText(err)}`));
    }
  }
  loadRecent();

  return {
    onKey(e) {
      if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') { e.preventDefault(); classify(); return; }
      if (e.altKey && !e.ctrlKey && !e.metaKey && e.code === 'KeyA') { e.preventDefault(); accept(); return; }
      if (e.altKey && !e.ctrlKey && !e.metaKey && e.code === 'KeyC') { e.preventDefault(); if (result) openCorrection(); }
    },
  };
}
