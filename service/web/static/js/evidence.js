// The text beside the result: facts the service extracted (places, contacts…) and the words behind the decision.
import { api } from './api.js';
import { errorText, fill, h } from './util.js';

const FACT_KINDS = { place: '地点', phone: '电话', id_number: '身份证号', plate: '车牌', person: '人名' };
const PLACE_LEVELS = { province: '省', city: '市', county: '区县', town: '镇', street: '街道', village: '村/社区',
  estate: '小区', road: '道路', other: '其他' };

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

/** Facts (contract of #17: {kind, text, start, end, level?}) as chips grouped by kind; nothing when absent. */
export function renderFacts(box, facts) {
  const list = Array.isArray(facts) ? facts.filter((f) => f && f.text) : [];
  if (!list.length) { fill(box); box.hidden = true; return; }
  const groups = new Map();
  for (const f of list) {
    if (!groups.has(f.kind)) groups.set(f.kind, []);
    groups.get(f.kind).push(f);
  }
  box.hidden = false;
  fill(box, h('h3', { id: 'h-facts' }, '文中提取的信息'),
    h('dl', { class: 'facts', 'aria-labelledby': 'h-facts' }, [...groups].map(([kind, items]) => [
      h('dt', {}, FACT_KINDS[kind] || kind),
      h('dd', {}, h('ul', { class: 'chips' }, items.map((f) => h('li', {
        class: `fact fact-${kind}`, dataset: { kind, start: String(f.start), end: String(f.end) },
        title: f.level ? `${FACT_KINDS[kind] || kind}（${PLACE_LEVELS[f.level] || f.level}）` : null,
      }, f.text, f.level ? h('span', { class: 'fact-level' }, PLACE_LEVELS[f.level] || f.level) : null))))])));
}

/** Ask the service which words drove `result` for `req` and show them; `isCurrent()` drops a late answer. */
export async function explain(box, req, result, isCurrent) {
  fill(box, h('p', { class: 'loading' }, '正在计算判断依据…'));
  try {
    const ex = await api('/v1/explain', { method: 'POST',
      json: { title: req.title, text: req.text, engine: result.engine, topic: result.topic_path } });
    if (!isCurrent()) return;
    const all = [...ex.spans, ...ex.title_spans];
    const strongest = Math.max(0, ...all.map((s) => Math.abs(s.weight)));
    const byWord = new Map();
    for (const s of all) byWord.set(s.text, (byWord.get(s.text) || 0) + s.weight);
    const top = [...byWord].filter(([, w]) => w > 0).sort((a, b) => b[1] - a[1]).slice(0, 8);
    fill(box,
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
    if (isCurrent()) fill(box, h('p', { class: 'muted' }, `无法获取判断依据：${errorText(err)}`));
  }
}
