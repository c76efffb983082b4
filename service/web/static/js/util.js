// Small DOM helpers shared by the views.

/** h('div', {class: 'x', onclick: fn}, 'text', child…) → element; null/false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElementNS(tag.startsWith('svg:') ? 'http://www.w3.org/2000/svg' : 'http://www.w3.org/1999/xhtml',
    tag.replace(/^svg:/, ''));
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') {
      for (const [name, value] of Object.entries(v)) {
        if (name.startsWith('--')) el.style.setProperty(name, value);
        else el.style[name] = value;
      }
    }
    else if (k in el && !tag.startsWith('svg:') && k !== 'list' && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replace an element's children (null/false skipped, unlike the native replaceChildren which prints "null"). */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const svg = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

export function pct(x, digits = 0) {
  return x === null || x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)}%`;
}

export function num(x, digits = 3) {
  return x === null || x === undefined || Number.isNaN(Number(x)) ? '—' : Number(x).toFixed(digits);
}

export function fmtTime(iso) {
  if (!iso) return '—';
  // the service stores UTC; a timestamp without an offset is UTC, shown here in the browser's time zone
  const d = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(iso) ? iso : `${iso}Z`);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return '—';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} 秒`;
  if (s < 3600) return `${Math.floor(s / 60)} 分 ${s % 60} 秒`;
  return `${Math.floor(s / 3600)} 小时 ${Math.floor((s % 3600) / 60)} 分`;
}

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

/** Speak a short message through the page's polite live region. */
export function announce(message) {
  const status = document.getElementById('status');
  if (!status) return;
  status.textContent = '';
  setTimeout(() => { status.textContent = message; }, 30);
}

/** A labelled confidence bar: role=meter with the percentage as text. */
export function bar(value, label, { low = null } = {}) {
  const v = Math.max(0, Math.min(1, Number(value) || 0));
  return h('div', { class: 'bar', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100',
    'aria-valuenow': String(Math.round(v * 100)), 'aria-label': `${label}：${pct(v)}` },
  h('div', { class: 'bar-track', 'aria-hidden': 'true' },
    h('div', { class: `bar-fill${low !== null && v < low ? ' low' : ''}`, style: { width: `${(v * 100).toFixed(1)}%` } })),
  h('span', { class: 'bar-value', 'aria-hidden': 'true' }, pct(v)));
}

export function errorText(err) {
  if (!err) return '';
  return err.message || String(err);
}

export const ROLE_NAMES = { editor: '编辑', trainer: '训练员', admin: '管理员' };
const ROLE_RANK = { editor: 1, trainer: 2, admin: 3 };
export const hasRole = (who, role) => (ROLE_RANK[who && who.role] || 0) >= ROLE_RANK[role];
