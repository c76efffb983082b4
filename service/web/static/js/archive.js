// 档案批量分类: upload a file → batch job → progress → download the routed file (and the errors file).
import { api, download } from './api.js';
import { announce, errorText, fill, fmtSeconds, fmtTime, h, hasRole } from './util.js';

export const TITLE = '档案批量分类';
const POLL_MS = 500;
const STATUS_NAMES = { queued: '排队中', running: '运行中', succeeded: '已完成', failed: '失败', cancelled: '已取消' };
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

export function statusBadge(status) {
  const cls = status === 'succeeded' ? 'ok' : status === 'failed' || status === 'cancelled' ? 'warn' : '';
  return h('span', { class: `badge ${cls}`, dataset: { status } }, STATUS_NAMES[status] || status);
}

/** Progress block for a job object: <progress> + counts, rate, ETA, errors, stage. */
export function progressBlock(job, label) {
  const p = job.progress || {};
  const done = p.done || 0;
  const total = p.total || null;
  const finished = FINISHED.has(job.status);
  const attrs = { id: 'job-progress', 'aria-label': label, max: String(total || 1) };
  if (total) attrs.value = String(Math.min(done, total));
  else if (job.status === 'succeeded') attrs.value = '1';
  else if (finished) attrs.value = '0';
  return h('div', {},
    h('progress', attrs),
    h('p', { class: 'job-stats', id: 'job-stats' },
      `${statusBadgeText(job.status)}：已处理 ${done}${total ? ` / ${total}` : ''} 条`,
      p.rate ? `，${p.rate.toFixed(1)} 条/秒` : '',
      !finished && p.eta_seconds !== null && p.eta_seconds !== undefined ? `，预计剩余 ${fmtSeconds(p.eta_seconds)}` : '',
      `，错误 ${p.errors || 0} 条`,
      p.stage ? `（${STAGE_NAMES[p.stage] || p.stage}）` : ''));
}

const statusBadgeText = (s) => STATUS_NAMES[s] || s;
const STAGE_NAMES = { queued: '排队', starting: '启动', loading: '加载模型', reading: '读取文件', classifying: '分类中',
  training: '训练中', evaluating: '评估中', writing: '写出结果', saving: '保存', done: '完成' };

const share = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);

/** The job's summary (the API's result): shares, then counts per topic and per lead unit (top 10 each). */
function jobSummary(r) {
  const top = (counts, label, id) => {
    const entries = Object.entries(counts || {});
    if (!entries.length) return null;
    const shown = entries.slice(0, 10);
    const rest = entries.slice(10).reduce((n, [, c]) => n + c, 0);
    return h('div', { class: 'table-wrap' }, h('table', { id },
      h('caption', {}, label),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, label.replace('分布', '')), h('th', { scope: 'col', class: 'num' }, '条数'),
        h('th', { scope: 'col', class: 'num' }, '占比'))),
      h('tbody', {}, [...shown, ...(rest ? [[`其他 ${entries.length - 10} 项`, rest]] : [])].map(([name, n]) =>
        h('tr', {}, h('td', {}, name), h('td', { class: 'num' }, String(n)), h('td', { class: 'num' }, share(r.classified ? n / r.classified : null)))))));
  };
  return h('div', { id: 'job-summary' },
    h('h3', {}, '结果汇总'),
    h('dl', { class: 'kv' },
      h('dt', {}, '已分类'), h('dd', {}, `${r.classified} 行（共 ${r.total} 行，错误 ${r.errors} 行）`),
      h('dt', {}, '需复核'), h('dd', { id: 'job-review-share' }, `${r.needs_review} 行（${share(r.needs_review_share)}）`),
      r.labelled !== undefined ? [h('dt', {}, '与原标签不同'),
        h('dd', { id: 'job-changed-share' }, `${r.changed} 行 / 有原标签 ${r.labelled} 行（${share(r.changed_share)}）`)] : null,
      r.seconds ? [h('dt', {}, '用时'), h('dd', {}, `${fmtSeconds(r.seconds)}${r.items_per_second ? `（${r.items_per_second} 条/秒）` : ''}`)] : null),
    h('div', { class: 'grid-2' }, top(r.topics, '分类分布', 'job-topics'), top(r.lead_departments, '主办单位分布', 'job-leads')));
}

export function mount(root, ctx) {
  let timer = null;
  let stopped = false;

  // the native control's button text follows the browser's language; ours is always Chinese
  const fileName = h('span', { id: 'archive-file-name', class: 'muted' }, '未选择文件');
  const fileInput = h('input', { id: 'archive-file', type: 'file', class: 'file-input visually-hidden',
    accept: '.csv,.xlsx,.jsonl,.ndjson,.parquet', 'aria-describedby': 'archive-file-hint archive-file-name',
    onchange: () => {
      fileName.textContent = fileInput.files[0] ? fileInput.files[0].name : '未选择文件';
      fileInput.removeAttribute('aria-invalid');
      if (fileInput.files[0]) msg.textContent = '';
    } });
  const engineSelect = h('select', { id: 'archive-engine' },
    h('option', { value: 'auto' }, '自动'), h('option', { value: 'tfidf' }, 'TF-IDF'), h('option', { value: 'bert' }, 'BERT'));
  const formatSelect = h('select', { id: 'archive-format' },
    h('option', { value: '' }, '与上传文件相同'), h('option', { value: 'csv' }, 'CSV'),
    h('option', { value: 'xlsx' }, 'Excel（XLSX）'), h('option', { value: 'jsonl' }, 'JSONL'), h('option', { value: 'parquet' }, 'Parquet'));
  const col = (id, label, placeholder) => h('div', {}, h('label', { for: id }, label, h('span', { class: 'hint' }, '（可选）')),
    h('input', { id, type: 'text', placeholder, autocomplete: 'off' }));
  const submit = h('button', { type: 'submit', class: 'primary', id: 'archive-submit' }, '上传并开始分类');
  const msg = h('p', { id: 'archive-message', role: 'alert' });
  // novalidate: the browser's own bubble ("Please select a file.") follows its UI language; ours is Chinese
  const form = h('form', { id: 'archive-form', class: 'card', 'aria-labelledby': 'h-archive', novalidate: true },
    h('h1', { id: 'h-archive' }, '档案批量分类'),
    h('label', { for: 'archive-file' }, '档案文件'),
    h('div', { class: 'file-row' }, fileInput,
      h('label', { for: 'archive-file', class: 'file-button', 'aria-hidden': 'true' }, '选择文件…'), fileName),
    h('p', { id: 'archive-file-hint', class: 'hint' }, '支持 CSV（UTF-8 或 GBK）、Excel（XLSX）、JSONL、Parquet。每行一条，需有正文列。'),
    h('div', { class: 'row' },
      h('div', {}, h('label', { for: 'archive-engine' }, '模型引擎'), engineSelect),
      h('div', {}, h('label', { for: 'archive-format' }, '结果文件格式'), formatSelect)),
    h('div', { class: 'row' },
      col('archive-id-col', '编号列', '如：id、编号'),
      col('archive-title-col', '标题列', '如：title、标题'),
      col('archive-text-col', '正文列', '如：text、内容')),
    h('div', { class: 'actions' }, submit),
    msg);

  const jobCard = h('section', { class: 'card', id: 'job', 'aria-labelledby': 'h-job', hidden: true });
  const jobsBody = h('div', { id: 'jobs-list', class: 'table-wrap' }, h('p', { class: 'loading' }, '正在加载…'));
  root.append(form, jobCard, h('section', { class: 'card', 'aria-labelledby': 'h-jobs' },
    h('h2', { id: 'h-jobs' }, '最近的批量任务'), jobsBody));
  fileInput.focus();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const file = fileInput.files[0];
    if (!file) {
      msg.className = 'error';
      msg.textContent = '请选择要上传的档案文件（CSV、XLSX、JSONL 或 Parquet）。';
      fileInput.setAttribute('aria-invalid', 'true');
      fileInput.focus();
      return;
    }
    const data = new FormData();
    data.append('file', file, file.name);
    data.append('engine', engineSelect.value);
    for (const [id, field] of [['archive-id-col', 'id_col'], ['archive-title-col', 'title_col'], ['archive-text-col', 'text_col']]) {
      const v = document.getElementById(id).value.trim();
      if (v) data.append(field, v);
    }
    if (formatSelect.value) data.append('output_format', formatSelect.value);
    submit.disabled = true;
    msg.className = 'muted';
    msg.textContent = `正在上传 ${file.name}…`;
    try {
      const job = await api('/v1/batch-jobs', { method: 'POST', form: data });
      msg.className = 'success';
      msg.textContent = `已创建任务 ${job.id}。`;
      announce('任务已创建，开始分类');
      watch(job);
      loadJobs();
    } catch (err) {
      msg.className = 'error';
      msg.textContent = `上传失败：${errorText(err)}`;
    } finally {
      submit.disabled = false;
    }
  });

  function renderJob(job) {
    const finished = FINISHED.has(job.status);
    const errorsCount = (job.progress && job.progress.errors) || (job.result && job.result.errors) || 0;
    jobCard.hidden = false;
    fill(jobCard, 
      h('h2', { id: 'h-job' }, '任务进度 ', statusBadge(job.status)),
      h('p', { class: 'meta' }, `任务 ${job.id}`, job.params && job.params.filename ? ` · ${job.params.filename}` : '',
        ` · 创建于 ${fmtTime(job.created_at)}`),
      progressBlock(job, '批量分类进度'),
      job.error ? h('p', { class: 'error', role: 'alert', id: 'job-error' }, `失败原因：${job.error}`) : null,
      job.status === 'succeeded' && errorsCount ? h('p', { class: 'review', id: 'job-row-errors' },
        `${errorsCount} 行无法分类，已跳过`, job.result && job.result.first_error ? `（例如：${job.result.first_error}）` : '',
        '。明细见“下载错误明细”。') : null,
      job.status === 'succeeded' && job.result ? jobSummary(job.result) : null,
      h('div', { class: 'actions' },
        job.status === 'succeeded'
          ? h('button', { type: 'button', class: 'primary', id: 'download-result', onclick: () => save(job, 'result') }, '下载结果文件')
          : null,
        job.status === 'succeeded' && errorsCount
          ? h('button', { type: 'button', id: 'download-errors', onclick: () => save(job, 'errors') }, `下载错误明细（${errorsCount} 条）`)
          : null,
        !finished && hasRole(ctx.who, 'trainer')
          ? h('button', { type: 'button', class: 'danger', id: 'cancel-job', onclick: () => cancel(job) }, '取消任务')
          : null),
      h('p', { id: 'download-message', role: 'status' }));
  }

  async function save(job, what) {
    const out = document.getElementById('download-message');
    try {
      const name = await download(`/v1/batch-jobs/${encodeURIComponent(job.id)}/${what}`, `${job.id}-${what}`);
      out.className = 'success';
      out.textContent = `已下载 ${name}`;
    } catch (err) {
      out.className = 'error';
      out.textContent = `下载失败：${errorText(err)}`;
    }
  }

  async function cancel(job) {
    try {
      await api(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`, { method: 'POST' });
      announce('已请求取消任务');
    } catch (err) {
      msg.className = 'error';
      msg.textContent = `取消失败：${errorText(err)}`;
    }
  }

  function watch(job) {
    clearTimeout(timer);
    renderJob(job);
    if (FINISHED.has(job.status)) return;
    const poll = async () => {
      if (stopped) return;
      try {
        const fresh = await api(`/v1/batch-jobs/${encodeURIComponent(job.id)}`);
        renderJob(fresh);
        if (FINISHED.has(fresh.status)) {
          announce(`任务${STATUS_NAMES[fresh.status]}`);
          loadJobs();
          return;
        }
      } catch (err) {
        msg.className = 'error';
        msg.textContent = `无法获取任务进度：${errorText(err)}`;
      }
      timer = setTimeout(poll, POLL_MS);
    };
    timer = setTimeout(poll, POLL_MS);
  }

  async function loadJobs() {
    try {
      const list = await api('/v1/jobs?kind=batch&limit=10');
      if (!list.data.length) { fill(jobsBody, h('p', { class: 'muted' }, '暂无批量任务。')); return; }
      fill(jobsBody, h('table', { class: 'stack-sm' },
        h('thead', {}, h('tr', {}, ['任务', '文件', '状态', '进度', '创建人', '创建时间', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, list.data.map((job) => h('tr', {},
          h('td', { 'data-label': '任务', class: 'meta' }, job.id),
          h('td', { 'data-label': '文件' }, (job.params && job.params.filename) || '—'),
          h('td', { 'data-label': '状态' }, statusBadge(job.status)),
          h('td', { class: 'num', 'data-label': '进度' }, `${(job.progress && job.progress.done) || 0}${job.progress && job.progress.total ? ` / ${job.progress.total}` : ''}`),
          h('td', { 'data-label': '创建人' }, job.created_by || '—'),
          h('td', { 'data-label': '创建时间' }, fmtTime(job.created_at)),
          h('td', {}, h('button', { type: 'button', class: 'link', 'aria-label': `查看任务 ${job.id}`, onclick: () => watch(job) }, '查看')))))));
    } catch (err) {
      fill(jobsBody, h('p', { class: 'muted' }, `无法加载任务列表：${errorText(err)}`));
    }
  }
  loadJobs();

  return { unmount() { stopped = true; clearTimeout(timer); } };
}
