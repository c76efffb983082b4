// 分类与复核: paste → result with highlighted evidence → accept or correct → recent items.
// A result is bound to the exact title and text it was computed for: any edit, a failed classify, 载入 or 清空
// marks it out of date (已过期) and 采纳/纠正 stay disabled until the text is classified again.
import { api } from './api.js';
import { details, pathText, summary, topicLevels, verdictLine } from './card.js';
import { openCorrection } from './correction.js';
import { explain, renderFacts } from './evidence.js';
import { loadRecent } from './recent.js';
import { announce, errorText, fill, h, pct } from './util.js';
import { similarPanel } from './similar.js';


export const TITLE = '分类与复核';

/** A fresh idempotency key; crypto.getRandomValues also works on plain http (randomUUID needs a secure context). */
function newKey() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function mount(root) {
  const state = {
    result: null, request: null, // the last classification and exactly what it was computed for
    stale: null, // why the result no longer matches the form, or null
    verdict: null, revising: false, // the stored verdict for this result; whether the editor is revising it
    busy: false, sending: false, // a classify / a verdict in flight
  };
  let pendingKey = null; // {json, key}: a verdict that failed is retried under the same Idempotency-Key
  let correction = null; // the open correction form's controller
  let opening = false; // the correction form is loading its labels

  // ---------------------------------------------------------------- input
  const titleInput = h('input', { id: 'item-title', type: 'text', maxlength: '500', autocomplete: 'off' });
  const textInput = h('textarea', { id: 'item-text', required: true, 'aria-describedby': 'text-hint' });
  const idInput = h('input', { id: 'item-id', type: 'text', maxlength: '200', autocomplete: 'off' });
  const engineSelect = h('select', { id: 'item-engine', 'aria-describedby': 'engine-hint' },
    h('option', { value: 'auto' }, '自动（推荐）'),
    h('option', { value: 'tfidf' }, 'TF-IDF 词频模型'),
    h('option', { value: 'bert' }, 'BERT 语义模型'));
  const formMsg = h('p', { id: 'classify-message', role: 'alert' });
  const classifyBtn = h('button', { type: 'submit', class: 'primary', id: 'classify-btn',
    'aria-keyshortcuts': 'Control+Enter' }, '分类 ', h('kbd', {}, 'Ctrl+Enter'));
  const form = h('form', { id: 'classify-form', 'aria-labelledby': 'h-input', novalidate: true },
    h('h1', { id: 'h-input', tabindex: '-1' }, '待分类内容'),
    h('label', { for: 'item-title' }, '标题', h('span', { class: 'hint' }, '（可选）')),
    titleInput,
    h('label', { for: 'item-text' }, '正文'),
    textInput,
    h('p', { id: 'text-hint', class: 'hint' }, '粘贴群众留言、社情民意信息或政协提案的正文。'),
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'item-id' }, '编号', h('span', { class: 'hint' }, '（可选）')), idInput),
      h('div', {}, h('label', { for: 'item-engine' }, '模型引擎'), engineSelect)),
    h('p', { id: 'engine-hint', class: 'hint' },
      '自动：有 BERT 模型时用 BERT 与 TF-IDF 的组合模型，否则用 TF-IDF。TF-IDF 按关键词的频率判断，快；'
      + 'BERT 理解整句语义，较慢；组合模型取两者概率的加权平均。'),
    h('div', { class: 'actions' }, classifyBtn,
      h('button', { type: 'reset', id: 'clear-btn' }, '清空')),
    formMsg);
  form.addEventListener('submit', (e) => { e.preventDefault(); guarded(classify, '放弃纠正并重新分类'); });
  form.addEventListener('reset', () => {
    formMsg.textContent = '';
    markStale('表单已清空');
    setTimeout(() => textInput.focus(), 0);
  });
  for (const input of [titleInput, textInput]) {
    input.addEventListener('input', () => {
      if (state.request && (titleInput.value !== state.request.title || textInput.value !== state.request.text)) {
        markStale('标题或正文已修改');
      }
    });
  }

  // --------------------------------------------------------------- result
  const resultHeading = h('h2', { id: 'h-result', tabindex: '-1' }, '分类结果');
  const staleNote = h('p', { id: 'stale-note', class: 'stale-note', hidden: true });
  const resultSummary = h('div', { id: 'result-summary', class: 'summary', 'aria-live': 'polite', 'aria-atomic': 'true' },
    h('p', { class: 'muted' }, '粘贴内容后按“分类”或 Ctrl+Enter。'));
  const resultDetails = h('div', { id: 'result-details' });
  const evidence = h('div', { id: 'evidence' });
  const facts = h('div', { id: 'facts', hidden: true });
  const feedbackMsg = h('p', { id: 'feedback-message', role: 'status', 'aria-live': 'polite' });
  const verdictBox = h('div', { id: 'verdict', class: 'verdict', hidden: true });
  const acceptBtn = h('button', { type: 'button', class: 'ok', id: 'accept-btn', disabled: true,
    'aria-keyshortcuts': 'Alt+A', onclick: () => requestAccept() }, '采纳 ', h('kbd', {}, 'Alt+A'));
  const correctBtn = h('button', { type: 'button', id: 'correct-btn', disabled: true,
    'aria-keyshortcuts': 'Alt+C', onclick: () => startCorrection() }, '纠正 ', h('kbd', {}, 'Alt+C'));
  const reviseBtn = h('button', { type: 'button', id: 'revise-btn', hidden: true, onclick: revise }, '修改');
  const actions = h('div', { class: 'actions', id: 'result-actions' }, acceptBtn, correctBtn);
  const resultCard = h('section', { class: 'card', id: 'result', 'aria-labelledby': 'h-result' },
    resultHeading, staleNote, resultSummary, resultDetails,
    actions, verdictBox, feedbackMsg);
  const correctionCard = h('section', { class: 'card', id: 'correction', 'aria-labelledby': 'h-correct', hidden: true });
  const evidenceCard = h('section', { class: 'card', id: 'evidence-card', 'aria-labelledby': 'h-evidence' },
    h('h2', { id: 'h-evidence' }, '正文信息与判断依据'), facts, evidence);
  const similar = similarPanel(); // 相似留言 / 可并案 (similar.js)

  // ---------------------------------------------------------------- recent
  const recentBody = h('div', { id: 'recent-list', class: 'table-wrap' }, h('p', { class: 'loading' }, '正在加载…'));
  const refreshRecent = () => loadRecent(recentBody, loadRow);
  const recentCard = h('section', { class: 'card', 'aria-labelledby': 'h-recent' },
    h('div', { class: 'card-head' },
      h('h2', { id: 'h-recent' }, '最近分类'),
      h('button', { type: 'button', id: 'recent-refresh', onclick: refreshRecent }, '刷新')),
    recentBody);

  const shortcuts = h('section', { class: 'card shortcuts', 'aria-labelledby': 'h-keys' },
    h('h2', { id: 'h-keys' }, '键盘快捷键'),
    h('dl', {},
      h('dt', {}, h('kbd', {}, 'Ctrl+Enter')), h('dd', {}, '分类（在正文或标题中）；在纠正表单中为提交纠正'),
      h('dt', {}, h('kbd', {}, 'Alt+A')), h('dd', {}, '采纳当前结果（纠正表单有改动时先询问）'),
      h('dt', {}, h('kbd', {}, 'Alt+C')), h('dd', {}, '纠正当前结果（打开分类与单位选择）'),
      h('dt', {}, h('kbd', {}, 'Alt+1 / 2 / 3')), h('dd', {}, '切换到 分类与复核 / 档案批量分类 / 模型管理'),
      h('dt', {}, h('kbd', {}, '↑ ↓ Enter Esc')), h('dd', {}, '在搜索选择框中移动、选定、关闭'),
      h('dt', {}, h('kbd', {}, 'Tab')), h('dd', {}, '在控件间移动')));

  root.append(
    h('div', { class: 'grid-2 classify-grid' },
      h('div', {}, h('section', { class: 'card', id: 'input-card' }, form), evidenceCard),
      h('div', {}, resultCard, similar.card, correctionCard, shortcuts)),
    recentCard);
  textInput.focus();

  // ---------------------------------------------------------------- state
  function blockedReason() {
    if (!state.result) return '还没有分类结果。';
    if (state.stale) return `结果已过期（${state.stale}），请重新分类后再提交。`;
    return null;
  }

  /** Buttons and markers from the state: nothing can be sent for a stale result or twice at once. */
  function sync() {
    const open = state.result && !state.stale && !state.sending && (!state.verdict || state.revising);
    acceptBtn.disabled = !open;
    correctBtn.disabled = !open;
    for (const pickBtn of resultDetails.querySelectorAll('button')) pickBtn.disabled = !open; // 改为此类
    reviseBtn.hidden = !(state.verdict && !state.revising);
    actions.hidden = !reviseBtn.hidden; // decided: 修改 replaces 采纳/纠正 until the editor revises
    reviseBtn.disabled = Boolean(state.stale) || state.sending;
    verdictBox.hidden = !state.verdict;
    resultCard.classList.toggle('is-stale', Boolean(state.stale));
    evidenceCard.classList.toggle('is-stale', Boolean(state.stale));
    staleNote.hidden = !state.stale;
    if (state.stale) {
      fill(staleNote, h('strong', {}, '已过期'), `：${state.stale}。下面的结果对应的是之前的内容，`
        + '请重新分类（Ctrl+Enter）后再采纳或纠正。');
    }
    if (correction) correction.setBlocked(state.stale ? blockedReason() : null);
  }

  function markStale(reason, { quiet = false } = {}) {
    if (!state.result || state.stale === reason) return;
    state.stale = reason;
    sync();
    if (!quiet) announce(`分类结果已过期：${reason}`);
  }

  function loadRow(row) {
    titleInput.value = row.title || '';
    textInput.value = row.text;
    idInput.value = row.item_id || '';
    markStale('已载入其他内容');
    textInput.focus();
  }

  /** Run `action`, asking first when an edited correction form would be dropped by it. */
  function guarded(action, dropLabel) {
    if (!correction || !correction.isDirty()) { action(); return; }
    correction.ask('纠正表单中有尚未提交的修改。', [
      { id: 'ask-submit', label: '提交纠正', act: () => correction.submit() },
      { id: 'ask-drop', label: dropLabel, act: () => { correction.close(); action(); } },
      { id: 'ask-stay', label: '继续编辑', act: () => correction.focus() },
    ]);
  }

  // ---------------------------------------------------------------- logic
  async function classify() {
    if (state.busy) return;
    const text = textInput.value;
    if (!text.trim()) {
      formMsg.className = 'error';
      formMsg.textContent = '请先填写正文。';
      textInput.focus();
      return;
    }
    state.busy = true;
    classifyBtn.disabled = true;
    formMsg.className = 'muted';
    formMsg.textContent = '正在分类…';
    const request = { title: titleInput.value, text, engine: engineSelect.value };
    if (idInput.value.trim()) request.id = idInput.value.trim();
    markStale('正在重新分类', { quiet: true }); // nothing can be sent for the old result while this runs
    try {
      const result = await api('/v1/classify', { method: 'POST', json: { ...request, top_k: 5, similar: 5 } });
      Object.assign(state, { result, request, stale: null, verdict: null, revising: false });
      pendingKey = null;
      formMsg.textContent = '';
      if (correction) correction.close();
      feedbackMsg.textContent = '';
      renderResult();
      similar.show(request, result);
      explain(evidence, request, result, () => state.request === request);
      refreshRecent();
    } catch (err) {
      formMsg.className = 'error';
      formMsg.textContent = `分类失败：${errorText(err)}`;
      markStale('最近一次分类失败');
      if (err.field === 'text') textInput.focus();
      else if (err.field === 'title') titleInput.focus();
    } finally {
      state.busy = false;
      classifyBtn.disabled = false;
    }
  }

  function renderResult() {
    const r = state.result;
    fill(resultSummary, summary(r));
    fill(resultDetails, details(r, { onPick: (path) => startCorrection({ topic: path }) }));
    renderFacts(facts, r.facts);
    sync();
    const levels = topicLevels(r);
    const lead = r.departments.find((d) => d.role === 'lead');
    announce(`分类完成：${pathText(r.topic_path)}，${levels.map((l) => `${l.level} ${pct(l.confidence)}`).join('，')}，`
      + `主办 ${lead ? lead.name : '无'}${r.needs_review ? '，需人工复核' : ''}`);
    // on a narrow screen the card is below the form: bring it into view (focus stays in the text)
    const top = resultCard.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.6) resultCard.scrollIntoView({ block: 'start' });
  }

  function feedbackBase() {
    const body = { title: state.request.title, text: state.request.text };
    if (state.result.classification_id !== undefined && state.result.classification_id !== null) {
      body.classification_id = state.result.classification_id;
    }
    if (state.request.id) body.item_id = state.request.id;
    return body;
  }

  /** Store one verdict for the current result, once: in flight nothing else is sent; a retry reuses the key. */
  async function sendVerdict(verdict) {
    const why = blockedReason();
    if (why) throw new Error(why);
    if (state.sending) throw new Error('上一条反馈正在提交。');
    const body = { ...feedbackBase(), ...verdict };
    const json = JSON.stringify(body);
    if (!pendingKey || pendingKey.json !== json) pendingKey = { json, key: newKey() };
    state.sending = true;
    sync();
    try {
      const fb = await api('/v1/feedback', { method: 'POST', json: body, headers: { 'Idempotency-Key': pendingKey.key } });
      pendingKey = null;
      Object.assign(state, { verdict: fb, revising: false });
      fill(verdictBox, h('p', { id: 'verdict-line' }, verdictLine(fb)), h('div', { class: 'actions' }, reviseBtn));
      feedbackMsg.className = 'success';
      feedbackMsg.textContent = fb.action === 'accept' ? '已采纳。' : '已保存纠正。';
      announce(fb.action === 'accept' ? '已采纳' : '纠正已保存');
      refreshRecent();
      return fb;
    } finally {
      state.sending = false;
      sync();
    }
  }

  function requestAccept() {
    if (acceptBtn.disabled) {
      if (state.result && state.stale) { feedbackMsg.className = 'error'; feedbackMsg.textContent = blockedReason(); }
      else if (state.verdict && !state.revising && !state.sending) {
        feedbackMsg.className = 'muted';
        feedbackMsg.textContent = '这条结果已处理；如需更改，请按“修改”。';
      }
      return;
    }
    guarded(accept, '放弃纠正，采纳原建议');
  }

  async function accept() {
    feedbackMsg.className = 'muted';
    feedbackMsg.textContent = '正在提交…';
    try {
      await sendVerdict({ action: 'accept', topic: state.result.topic_path,
        departments: state.result.departments.map(({ name, role }) => ({ name, role })) });
      if (correction) correction.close();
      reviseBtn.focus();
    } catch (err) {
      feedbackMsg.className = 'error';
      feedbackMsg.textContent = `采纳失败：${errorText(err)}`;
    }
  }

  /** Open the form on the suggestion, or on the stored verdict when revising; `preset.topic` picks a topic. */
  async function startCorrection(preset = {}) {
    if (!state.result || state.stale || (state.verdict && !state.revising)) return;
    if (correction) { if (preset.topic) correction.setTopic(preset.topic); else correction.focus(); return; }
    const from = state.verdict || { topic_path: state.result.topic_path, departments: state.result.departments };
    const lead = from.departments.find((d) => d.role === 'lead');
    const start = { topic: preset.topic || from.topic_path, lead: lead ? lead.name : null,
      assists: from.departments.filter((d) => d.role === 'assist').map((d) => d.name) };
    if (opening) return; // a second Alt+C while the labels load does nothing
    opening = true;
    correction = await openCorrection(correctionCard, {
      start,
      blocked: blockedReason,
      send: sendVerdict,
      onClose: () => {
        correction = null;
        sync();
        // focus was in the form that just went away: put it on the card's next step
        if (document.activeElement === document.body || !document.activeElement) (reviseBtn.hidden ? correctBtn : reviseBtn).focus();
      },
    }).finally(() => { opening = false; });
    sync();
  }

  function revise() {
    state.revising = true;
    feedbackMsg.textContent = '正在修改：采纳原建议或提交新的纠正，新的记录将取代之前的处理。';
    sync();
    startCorrection();
  }

  refreshRecent();

  return {
    onKey(e) {
      const inForm = Boolean(correction && correctionCard.contains(e.target));
      if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
        e.preventDefault();
        if (inForm) correction.submit();
        else guarded(classify, '放弃纠正并重新分类');
        return;
      }
      if (e.altKey && !e.ctrlKey && !e.metaKey && e.code === 'KeyA') { e.preventDefault(); requestAccept(); return; }
      if (e.altKey && !e.ctrlKey && !e.metaKey && e.code === 'KeyC') { e.preventDefault(); startCorrection(); }
    },
  };
}
