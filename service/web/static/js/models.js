// 模型管理: versions with metrics, per-class F1 and confusion matrix, promote / rollback / retrain (trainers).
import { api } from './api.js';
import { statusBadge } from './archive.js';
import { barChart, confusionAxes, confusionChart, dataTable } from './charts.js';
import { announce, errorText, fill, fmtSeconds, fmtTime, h, hasRole, num } from './util.js';

export const TITLE = '模型管理';
const ENGINE_NAMES = { tfidf: 'TF-IDF', bert: 'BERT' };
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
// the retraining's steps, recognised in the job's progress stage (e.g. "tfidf：在留出集上评测")
const STEPS = [['读取数据', /读取数据/], ['训练', /训练|fit|epoch|encod/i], ['评测', /评测|导出/],
  ['发布检查', /比较|已保存|发布/], ['完成', /^完成$/]];

function stepIndex(job) {
  if (job.status === 'succeeded') return STEPS.length;
  const stage = (job.progress && job.progress.stage) || '';
  let found = -1;
  STEPS.forEach(([, re], i) => { if (re.test(stage)) found = i; });
  return found;
}

/** The retraining's progress, honestly: the steps done, the current stage, a percentage and ETA only when the
 * trainer reports one (TF-IDF does not), and the time elapsed. */
function retrainProgress(job) {
  const p = job.progress || {};
  const at = stepIndex(job);
  const finished = FINISHED.has(job.status);
  const percent = job.status === 'succeeded' ? 100 : (typeof p.percent === 'number' ? p.percent : null);
  const attrs = { id: 'retrain-progress', 'aria-label': '训练进度', max: '100' };
  if (percent !== null) attrs.value = String(percent);
  else if (finished) attrs.value = '0';
  return h('div', {},
    h('ol', { class: 'steps', id: 'retrain-steps', 'aria-label': '训练步骤' }, STEPS.map(([name], i) => h('li', {
      class: i < at ? 'done' : i === at && !finished ? 'current' : '', 'aria-current': i === at && !finished ? 'step' : null },
    i < at ? '✓ ' : '', name))),
    finished && job.status !== 'succeeded' ? null : h('progress', attrs),
    h('p', { class: 'job-stats', id: 'retrain-stats' },
      finished ? '' : `当前：${p.stage || '排队中'}`,
      percent !== null && !finished ? `，${percent.toFixed(0)}%` : '',
      !finished && percent !== null && p.eta_seconds !== null && p.eta_seconds !== undefined ? `，预计剩余 ${fmtSeconds(p.eta_seconds)}` : '',
      !finished && percent === null ? '（此阶段无法估计剩余时间）' : '',
      p.elapsed_seconds !== undefined ? `${finished ? '' : '；'}已用时 ${fmtSeconds(p.elapsed_seconds)}` : ''));
}

/** The gate's verdict for one engine: passed or the reasons, and F1 per class before and after. */
function gateReport(name, r) {
  const report = r.report || {};
  const perClass = Object.entries(report.per_class || {}).sort((a, b) => (a[1].delta ?? 0) - (b[1].delta ?? 0));
  const ok = report.passed !== false;
  return h('div', { class: 'gate-report', dataset: { engine: name } },
    h('h4', {}, `${ENGINE_NAMES[name] || name}：新版本 ${r.version}`, ' ',
      h('span', { class: `badge ${r.promoted ? 'ok' : 'warn'}` }, r.promoted ? (r.forced ? '已强制发布' : '已发布') : '未发布')),
    h('div', { class: ok ? 'review-ok' : 'review' }, h('strong', {}, ok ? '发布检查：通过' : '发布检查：未通过'),
      h('ul', {}, (report.reasons || []).map((reason) => h('li', {}, reason)))),
    report.macro_f1 ? h('p', {}, `宏 F1：${num(report.macro_f1.before)} → ${num(report.macro_f1.after)}（${report.macro_f1.delta >= 0 ? '+' : ''}${num(report.macro_f1.delta)}）`) : null,
    perClass.length ? openTable(dataTable(`${ENGINE_NAMES[name] || name} 各类别 F1（发布前 / 发布后）`, ['类别', '发布前', '发布后', '变化', '样本数'],
      perClass.map(([l, c]) => [l, num(c.before), num(c.after), c.delta === null || c.delta === undefined ? '—' : `${c.delta >= 0 ? '+' : ''}${num(c.delta)}`, c.support ?? '—']))) : null);
}

function openTable(details) {
  details.open = true;
  return details;
}

export function mount(root, ctx) {
  const trainer = hasRole(ctx.who, 'trainer');
  let listing = null;
  let selected = null;
  let timer = null;
  let stopped = false;

  const currentBox = h('div', { id: 'current-models' });
  const listBox = h('div', { id: 'models-list', class: 'table-wrap' }, h('p', { class: 'loading' }, '正在加载…'));
  const detail = h('section', { class: 'card', id: 'model-detail', 'aria-labelledby': 'h-detail', 'aria-live': 'polite' });
  const opsMsg = h('p', { id: 'models-message', role: 'status' });
  const trainerCard = trainer ? h('section', { class: 'card', id: 'trainer-tools', 'aria-labelledby': 'h-tools' }) : null;
  const jobBox = h('div', { id: 'retrain-job', 'aria-live': 'polite' }); // kept across re-renders of the tools
  let watching = null;

  root.append(
    h('section', { class: 'card', 'aria-labelledby': 'h-models' },
      h('h1', { id: 'h-models' }, '模型管理'),
      currentBox,
      trainer ? null : h('p', { class: 'muted', id: 'role-note' }, '发布、回滚和重新训练需要“训练员”或“管理员”权限；当前账号只能查看。'),
      opsMsg,
      listBox),
    trainerCard,
    detail);

  async function load(keepSelection = true) {
    try {
      listing = await api('/v1/models');
    } catch (err) {
      fill(listBox, h('p', { class: 'error', role: 'alert' }, `无法加载模型列表：${errorText(err)}`));
      return;
    }
    const cur = listing.current || {};
    fill(currentBox, h('dl', { class: 'kv' }, Object.keys(ENGINE_NAMES).flatMap((e) => [
      h('dt', {}, `当前 ${ENGINE_NAMES[e]} 版本`), h('dd', { id: `current-${e}` }, cur[e] || '无')])));
    renderList();
    if (trainerCard) renderTools();
    const first = (keepSelection && selected) || cur.tfidf || cur.bert || (listing.data[0] && listing.data[0].version);
    if (first) showDetail(first);
    else fill(detail, h('h2', { id: 'h-detail' }, '模型详情'), h('p', { class: 'muted' }, '还没有训练好的模型。'));
  }

  function renderList() {
    if (!listing.data.length) { fill(listBox, h('p', { class: 'muted' }, '还没有模型版本。')); return; }
    const HEAD = ['版本', '引擎', '创建时间', '上一版本', '准确率', '宏 F1', 'ECE', '评估条数', '', ''];
    const td = (i, attrs, ...children) => h('td', { ...attrs, 'data-label': HEAD[i] || null }, ...children);
    fill(listBox, h('table', { id: 'models-table', class: 'stack-sm' },
      h('caption', { class: 'visually-hidden' }, '模型版本，最新的在前'),
      h('thead', {}, h('tr', {}, ['版本', '引擎', '创建时间', '上一版本', '准确率', '宏 F1', 'ECE', '评估条数', '', '']
        .map((t, i) => h('th', { scope: 'col', class: i >= 4 && i <= 7 ? 'num' : null }, t)))),
      h('tbody', {}, listing.data.map((m) => {
        const t = (m.metrics && m.metrics.topic) || {};
        return h('tr', { class: m.current ? 'is-current' : null, dataset: { version: m.version } },
          td(0, { class: 'meta' }, m.version, m.current ? [' ', h('span', { class: 'badge current' }, '当前')] : null),
          td(1, {}, ENGINE_NAMES[m.engine] || m.engine),
          td(2, {}, fmtTime(m.created_at)),
          td(3, { class: 'meta' }, m.parent || '—'),
          td(4, { class: 'num' }, num(t.accuracy)),
          td(5, { class: 'num' }, num(t.macro_f1)),
          td(6, { class: 'num' }, num(t.ece)),
          td(7, { class: 'num' }, t.n ?? '—'),
          h('td', {}, h('button', { type: 'button', class: 'link', 'aria-label': `查看 ${m.version} 的详情`,
            onclick: () => showDetail(m.version, true) }, '详情')),
          h('td', {}, trainer && !m.current
            ? h('button', { type: 'button', class: 'promote', 'aria-label': `发布 ${m.version}`, dataset: { version: m.version },
              onclick: () => promote(m.version, false) }, '发布')
            : null));
      }))));
  }

  async function showDetail(version, focus = false) {
    selected = version;
    fill(detail, h('h2', { id: 'h-detail', tabindex: '-1' }, `模型详情：${version}`), h('p', { class: 'loading' }, '正在加载…'));
    if (focus) detail.querySelector('h2').focus();
    let meta;
    try {
      meta = await api(`/v1/models/${encodeURIComponent(version)}`);
    } catch (err) {
      detail.append(h('p', { class: 'error' }, `无法加载：${errorText(err)}`));
      return;
    }
    if (selected !== version) return;
    const topic = (meta.metrics && meta.metrics.topic) || {};
    const perClass = topic.per_class || {};
    const rows = Object.entries(perClass).map(([label, s]) => ({ label, value: s.f1, note: `精确率 ${num(s.precision, 2)}，召回率 ${num(s.recall, 2)}，样本 ${s.support}` }))
      .sort((a, b) => b.value - a.value);
    const summary = listing && listing.data.find((m) => m.version === version);
    const isCurrent = summary ? summary.current : false;
    const data = meta.data || {};
    const parts = [
      h('h2', { id: 'h-detail', tabindex: '-1' }, `模型详情：${version}`, isCurrent ? [' ', h('span', { class: 'badge current' }, '当前')] : null),
      h('dl', { class: 'kv' },
        h('dt', {}, '引擎'), h('dd', {}, ENGINE_NAMES[meta.engine] || meta.engine),
        h('dt', {}, '创建时间'), h('dd', {}, fmtTime(meta.created_at)),
        h('dt', {}, '上一版本'), h('dd', {}, meta.parent || '—'),
        h('dt', {}, '训练数据'), h('dd', {}, `${data.n_train ?? '—'} 条训练，${data.n_eval ?? '—'} 条评估`),
        h('dt', {}, '分类准确率'), h('dd', {}, num(topic.accuracy)),
        h('dt', {}, '分类宏 F1'), h('dd', {}, num(topic.macro_f1)),
        h('dt', {}, '校准误差 ECE'), h('dd', {}, num(topic.ece),
          h('span', { class: 'hint' }, '（模型给出的置信度与实际准确率的平均差距，越小越可信）'))),
      trainer && !isCurrent
        ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', id: 'promote-btn',
          onclick: () => promote(version, false) }, `发布此版本（${version}）`))
        : null,
      h('div', { id: 'promote-report' }),
    ];
    if (rows.length) {
      parts.push(h('h3', {}, '各类别 F1（评估集）'),
        h('div', { class: 'chart' }, barChart(rows, { id: 'f1-chart', title: `${version} 各类别 F1` })),
        dataTable('各类别指标', ['类别', '精确率', '召回率', 'F1', '样本数'],
          Object.entries(perClass).map(([l, s]) => [l, num(s.precision), num(s.recall), num(s.f1), s.support])));
    } else {
      parts.push(h('p', { class: 'muted', id: 'no-metrics' }, '该版本没有评估集指标（训练时未留出评估集）。'));
    }
    const axes = topic.confusion ? confusionAxes(topic.confusion) : null;
    if (axes && axes.rows.length && axes.matrix.length) {
      parts.push(h('h3', {}, '混淆矩阵（行：真实类别，列：预测类别）'),
        h('div', { class: 'chart' }, confusionChart(topic.confusion, { id: 'confusion-chart', title: `${version} 混淆矩阵` })),
        dataTable('混淆矩阵', ['真实 \\ 预测', ...axes.columns], axes.matrix.map((row, i) => [axes.rows[i], ...row.map(String)])));
    }
    fill(detail, ...parts);
  }

  async function promote(version, force) {
    const report = document.getElementById('promote-report');
    opsMsg.className = 'muted';
    opsMsg.textContent = `正在发布 ${version}…`;
    try {
      await api(`/v1/models/${encodeURIComponent(version)}/promote`, { method: 'POST', json: { force } });
      opsMsg.className = 'success';
      opsMsg.textContent = `已发布 ${version}，服务已切换到该版本。`;
      announce(opsMsg.textContent);
      await load();
    } catch (err) {
      if (err.status === 409 && err.body && err.body.report) {
        opsMsg.className = 'error';
        opsMsg.textContent = `${version} 未通过发布检查，未发布。`;
        if (selected !== version) await showDetail(version);
        renderRefusal(document.getElementById('promote-report') || report, version, err.body.report);
      } else {
        opsMsg.className = 'error';
        opsMsg.textContent = `发布失败：${errorText(err)}`;
      }
    }
  }

  function renderRefusal(box, version, report) {
    const perClass = Object.entries(report.per_class || {}).sort((a, b) => (a[1].delta ?? 0) - (b[1].delta ?? 0));
    fill(box, h('div', { class: 'review', role: 'alert' },
      h('strong', {}, '发布检查未通过'),
      h('ul', {}, (report.reasons || []).map((r) => h('li', {}, r))),
      report.macro_f1_delta !== undefined ? h('p', {}, `宏 F1 变化：${num(report.macro_f1_delta)}`) : null,
      perClass.length ? dataTable('各类别 F1 变化', ['类别', '发布前', '发布后', '变化'],
        perClass.map(([l, s]) => [l, num(s.before), num(s.after), num(s.delta)])) : null,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', id: 'force-promote',
        onclick: () => promote(version, true) }, '仍然发布（强制）'))));
    box.querySelector('#force-promote').focus();
  }

  function renderTools() {
    const versions = (engine) => listing.data.filter((m) => m.engine === engine && !m.current);
    const rbEngine = h('select', { id: 'rollback-engine' }, Object.entries(ENGINE_NAMES).map(([v, t]) => h('option', { value: v }, t)));
    const rbVersion = h('select', { id: 'rollback-version' });
    const fillVersions = () => fill(rbVersion, h('option', { value: '' }, '上一次发布的版本'),
      ...versions(rbEngine.value).map((m) => h('option', { value: m.version }, m.version)));
    rbEngine.addEventListener('change', fillVersions);
    fillVersions();
    const rbForm = h('form', { id: 'rollback-form' },
      h('h3', {}, '回滚'),
      h('div', { class: 'row' },
        h('div', {}, h('label', { for: 'rollback-engine' }, '引擎'), rbEngine),
        h('div', {}, h('label', { for: 'rollback-version' }, '回滚到'), rbVersion),
        h('div', { style: { flex: '0 0 auto' } }, h('button', { type: 'submit', class: 'danger', id: 'rollback-btn' }, '回滚'))));
    rbForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { engine: rbEngine.value };
      if (rbVersion.value) body.version = rbVersion.value;
      opsMsg.className = 'muted';
      opsMsg.textContent = '正在回滚…';
      try {
        const out = await api('/v1/models/rollback', { method: 'POST', json: body });
        opsMsg.className = 'success';
        opsMsg.textContent = `已回滚 ${ENGINE_NAMES[body.engine]}${out && out.version ? ` 到 ${out.version}` : ''}。`;
        announce(opsMsg.textContent);
        await load(false);
      } catch (err) {
        opsMsg.className = 'error';
        opsMsg.textContent = `回滚失败：${errorText(err)}`;
      }
    });

    const rtEngine = h('select', { id: 'retrain-engine' }, h('option', { value: 'tfidf' }, 'TF-IDF'),
      h('option', { value: 'bert' }, 'BERT（较慢）'), h('option', { value: 'all' }, '全部'));
    const rtPromote = h('select', { id: 'retrain-promote' }, h('option', { value: 'auto' }, '通过发布检查则自动发布'),
      h('option', { value: 'never' }, '不发布（稍后手动发布）'), h('option', { value: 'force' }, '总是发布'));
    const rtForm = h('form', { id: 'retrain-form' },
      h('h3', {}, '重新训练（含编辑反馈）'),
      h('div', { class: 'row' },
        h('div', {}, h('label', { for: 'retrain-engine' }, '引擎'), rtEngine),
        h('div', {}, h('label', { for: 'retrain-promote' }, '训练完成后'), rtPromote),
        h('div', { style: { flex: '0 0 auto' } }, h('button', { type: 'submit', id: 'retrain-btn' }, '开始训练'))),
      jobBox);
    rtForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const job = await api('/v1/models/retrain', { method: 'POST', json: { engine: rtEngine.value, promote: rtPromote.value } });
        announce('训练任务已创建');
        watchJob(job, jobBox);
      } catch (err) {
        if (err.status === 409 && err.body && err.body.job) { watchJob(err.body.job, jobBox); return; } // one at a time
        fill(jobBox, h('p', { class: 'error' }, `无法开始训练：${errorText(err)}`));
      }
    });
    fill(trainerCard, h('h2', { id: 'h-tools' }, '训练员操作'), rbForm, rtForm);
  }

  function renderJob(job, box) {
    const finished = FINISHED.has(job.status);
    const engines = (job.result && job.result.engines) || {};
    fill(box, h('h3', { id: 'h-retrain-job' }, `训练任务 ${job.id} `, statusBadge(job.status)),
      h('p', { class: 'meta' }, `由 ${job.created_by || '—'} 于 ${fmtTime(job.created_at)} 发起`,
        job.params ? `；引擎 ${ENGINE_NAMES[job.params.engine] || (job.params.engine === 'all' ? '全部' : job.params.engine)}` : ''),
      retrainProgress(job),
      job.error ? h('p', { class: 'error', role: 'alert', id: 'retrain-error' }, job.status === 'cancelled' ? '任务已取消，未登记新版本。' : `失败原因：${job.error}`) : null,
      !finished ? h('div', { class: 'actions' }, h('button', { type: 'button', class: 'danger', id: 'retrain-cancel',
        onclick: () => cancelJob(job, box) }, '取消训练')) : null,
      Object.keys(engines).length ? h('div', { id: 'gate-report' }, h('h3', {}, '发布检查报告'),
        Object.entries(engines).map(([name, r]) => gateReport(name, r))) : null);
  }

  async function cancelJob(job, box) {
    const button = box.querySelector('#retrain-cancel');
    if (button) button.disabled = true;
    try {
      watchJob(await api(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`, { method: 'POST' }), box);
      announce('已请求取消训练任务');
    } catch (err) {
      if (button) button.disabled = false;
      box.append(h('p', { class: 'error' }, `取消失败：${errorText(err)}`));
    }
  }

  function watchJob(job, box) {
    clearTimeout(timer);
    watching = job.id;
    renderJob(job, box);
    if (FINISHED.has(job.status)) {
      const engines = (job.result && job.result.engines) || {};
      const fresh = Object.values(engines).map((r) => r.version).filter(Boolean);
      selected = fresh.length ? fresh[fresh.length - 1] : selected; // the detail card shows the new version
      load();
      return;
    }
    timer = setTimeout(async () => {
      if (stopped || watching !== job.id) return;
      try {
        const fresh = await api(`/v1/jobs/${encodeURIComponent(job.id)}`);
        if (FINISHED.has(fresh.status)) announce(`训练任务${fresh.status === 'succeeded' ? '已完成' : fresh.status === 'cancelled' ? '已取消' : '失败'}`);
        watchJob(fresh, box);
      } catch (err) {
        box.append(h('p', { class: 'error' }, `无法获取进度：${errorText(err)}`));
      }
    }, 1000);
  }

  async function resumeWatching() {
    // the newest retraining (running, or the last result) stays visible after leaving the page and coming back
    try {
      const list = await api('/v1/jobs?kind=retrain&limit=1');
      const job = list.data[0];
      if (!job || stopped || watching) return;
      if (FINISHED.has(job.status)) { watching = job.id; renderJob(job, jobBox); }
      else watchJob(job, jobBox);
    } catch { /* the list of models still works */ }
  }

  load().then(() => { if (trainer) resumeWatching(); });
  return { unmount() { stopped = true; clearTimeout(timer); } };
}
