// The result card's content: review flag, the topic path with each level's probability, alternatives, units.
import { bar, fmtTime, h, pct } from './util.js';

export const LEVELS = ['一级', '二级', '三级'];

export function pathText(path) {
  return (path || []).filter(Boolean).join(' › ');
}

const samePrefix = (a, b, n) => a.length >= n && b.length >= n && a.slice(0, n).join('/') === b.slice(0, n).join('/');

/**
 * The chosen path level by level with the probability of each: level 1 is `topic_confidence`, level 2 the
 * chosen path's candidate (the service puts it first), level 3 the path's own confidence. The engines make
 * P(level 2) = P(level 1) · P(level 2 | level 1), so the numbers only go down along the path and no
 * alternative's level 2 can exceed the chosen level 1.
 */
export function topicLevels(r) {
  const path = r.topic_path || [];
  const levels = [{ name: path[0], confidence: r.topic_confidence }];
  if (path.length >= 2) {
    const own = (r.topic_candidates || []).find((c) => samePrefix(c.topic_path, path, 2));
    levels.push({ name: path[1], confidence: own ? own.confidence : r.topic_path_confidence });
  }
  if (path.length >= 3) levels.push({ name: path[2], confidence: r.topic_path_confidence });
  return levels.map((l, i) => ({ ...l, level: LEVELS[i] }));
}

/** The other level-2 paths, most probable first (the chosen one and its level-3 variants left out). */
export function alternatives(r) {
  const path = r.topic_path || [];
  const n = Math.min(2, path.length);
  return (r.topic_candidates || []).filter((c) => !samePrefix(c.topic_path, path, n)).slice(0, 3);
}

export function numbersLine(levels) {
  return levels.map((l) => `${l.level} ${pct(l.confidence)}`).join(' · ');
}

/** Review flag, path, one bar per level. */
export function summary(r) {
  const levels = topicLevels(r);
  return [
    r.needs_review
      ? h('div', { class: 'review', id: 'review-flag', role: 'note' },
        h('strong', {}, '⚠ 需人工复核'),
        h('ul', { id: 'review-reasons' }, r.review_reasons.map((reason) => h('li', {}, reason))))
      : h('div', { class: 'review-ok', id: 'review-flag', role: 'note' }, '✓ 无需复核（置信度达标，仍可纠正）'),
    h('p', { class: 'topic-path', id: 'topic-path' },
      (r.topic_path || []).flatMap((p, i) => (i ? [h('span', { class: 'sep', 'aria-hidden': 'true' }, '›'), p] : [p]))),
    h('ul', { class: 'plain levels', id: 'topic-levels' }, levels.map((l) => h('li', { class: 'cand level' },
      h('span', {}, h('span', { class: 'badge' }, l.level), ' ', l.name),
      bar(l.confidence, `${l.level}分类“${l.name}”的可能性`)))),
    h('p', { class: 'meta', id: 'topic-numbers' }, numbersLine(levels),
      levels.length > 1 ? '（每一级的可能性含上一级，故逐级递减）' : ''),
  ];
}

/** Alternatives, the note when one outranks the chosen level 2, and the units with what their bars mean. */
export function details(r, { onPick }) {
  const levels = topicLevels(r);
  const alts = alternatives(r);
  const chosen2 = levels[1];
  const above = chosen2 ? alts.filter((c) => c.confidence > chosen2.confidence) : [];
  const lead = r.departments.find((d) => d.role === 'lead');
  const assists = r.departments.filter((d) => d.role === 'assist');
  return [
    h('h3', {}, '其他可能的分类', h('span', { class: 'hint' }, '（二级可能性）')),
    alts.length
      ? h('ul', { class: 'plain', id: 'alternatives' }, alts.map((c) => h('li', { class: 'cand' },
        h('span', { class: 'cand-name' }, pathText(c.topic_path)),
        bar(c.confidence, `备选 ${pathText(c.topic_path)} 的二级可能性`),
        h('button', { type: 'button', class: 'link', onclick: () => onPick(c.topic_path),
          'aria-label': `改为此类：${pathText(c.topic_path)}` }, '改为此类'))))
      : h('p', { class: 'muted' }, '无'),
    above.length
      ? h('p', { class: 'note', id: 'path-note' }, `“${pathText(above[0].topic_path)}”的二级可能性（${pct(above[0].confidence)}）`
        + `高于所选二级“${chosen2.name}”（${pct(chosen2.confidence)}），但一级“${levels[0].name}”合计可能性更高`
        + `（${pct(levels[0].confidence)}），因此先定一级、再取其中最可能的二级。如判断有误请纠正。`)
      : null,
    h('h3', {}, '承办单位'),
    h('p', { class: 'hint', id: 'unit-bars' }, '条形含义：主办单位的条形是主办可能性（由该单位主办的概率），协办单位的条形是参与办理可能性（该单位需参与办理的概率）。'),
    h('ul', { class: 'plain', id: 'departments' },
      lead ? h('li', { class: 'cand' }, h('span', { class: 'cand-name' }, h('span', { class: 'badge lead' }, '主办'), ' ', lead.name),
        bar(lead.confidence, `主办单位 ${lead.name} 的主办可能性`, { low: 0.4 }), h('span', { class: 'hint' }, '主办可能性')) : null,
      assists.map((d) => h('li', { class: 'cand' }, h('span', { class: 'cand-name' }, h('span', { class: 'badge' }, '协办'), ' ', d.name),
        bar(d.confidence, `协办单位 ${d.name} 的参与办理可能性`), h('span', { class: 'hint' }, '参与办理可能性'))),
      assists.length ? null : h('li', { class: 'muted' }, '无建议的协办单位')),
    h('dl', { class: 'kv meta', id: 'model-info' },
      h('dt', {}, '引擎'), h('dd', { id: 'result-engine' }, r.engine),
      h('dt', {}, '模型版本'), h('dd', { id: 'result-version' }, r.model_version),
      r.classification_id !== undefined ? [h('dt', {}, '分类编号'), h('dd', {}, String(r.classification_id))] : null),
  ];
}

/** "已采纳 · 张三 · time" with what was decided. */
export function verdictLine(fb) {
  const lead = (fb.departments || []).find((d) => d.role === 'lead');
  const what = fb.action === 'accept' ? '已采纳' : '已纠正';
  return [
    h('strong', { class: fb.action === 'accept' ? 'success' : 'warn-text' }, `✓ ${what}`),
    ` 由 ${fb.editor || '—'} 于 ${fmtTime(fb.created_at)}`,
    h('span', { class: 'meta', style: { display: 'block' } },
      `最终分类：${pathText(fb.topic_path) || '—'}；主办：${lead ? lead.name : '—'}（反馈编号 ${fb.id}）`),
  ];
}
