// The engine banner: which engine answers now, and what is being trained in the background (with percent and ETA).
import { h, fill } from './util.js';

export const ENGINE_NAMES = { tfidf: 'TF-IDF（词频模型）', bert: 'BERT', ensemble: 'BERT + TF-IDF 组合模型' };
const BUSY_MS = 5000;
const IDLE_MS = 60000;

export function mountEngineStatus(box) {
  let timer = null;
  async function refresh() {
    let ready = null;
    try {
      const response = await fetch('/readyz', { headers: { Accept: 'application/json' } });
      ready = await response.json();
    } catch (_err) {
      fill(box, h('span', { class: 'error' }, '无法连接服务'));
      timer = setTimeout(refresh, BUSY_MS);
      return;
    }
    const building = ready.building || [];
    const answering = ready.answering ? (ENGINE_NAMES[ready.answering] || ready.answering) : '无可用模型';
    fill(box,
      h('span', { id: 'engine-answering' }, `应答模型：${answering}`),
      ...building.map((b) => h('span', { class: 'engine-building', dataset: { job: b.job_id } },
        b.percent != null ? h('progress', { max: 100, value: b.percent, 'aria-hidden': 'true' }) : null,
        ` ${b.message}`)));
    box.title = building.length ? '训练完成并通过上线检查后自动切换，无需重启' : '';
    timer = setTimeout(refresh, building.length ? BUSY_MS : IDLE_MS);
  }
  refresh();
  return () => clearTimeout(timer);
}
