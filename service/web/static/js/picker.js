// Searchable picker following the ARIA 1.2 combobox pattern (input + listbox, aria-activedescendant).
import { fill, h, nextId } from './util.js';

const MAX_SHOWN = 60;

/**
 * options: [{value, label, hint?, search?}] — `search` is extra text matched by the query (aliases, sub-topics).
 * Typing filters (every space-separated word must occur); ↓/↑ move, Enter picks, Esc closes.
 * Returns {el, input, value, setValue(v), clear(), focus()}; `onChange(option)` fires on a pick.
 */
export function combobox({ id, label, hint = '', options, value = null, placeholder = '输入以搜索', onChange = () => {} }) {
  const listId = nextId(`${id}-list`);
  const hintId = hint ? nextId(`${id}-hint`) : null;
  const prepared = options.map((o, i) => ({ ...o, key: i,
    haystack: `${o.label} ${o.value} ${o.hint || ''} ${o.search || ''}`.toLowerCase() }));
  let selected = null;
  let shown = [];
  let active = -1;

  const input = h('input', { id, type: 'text', role: 'combobox', autocomplete: 'off', spellcheck: 'false',
    'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId, placeholder,
    'aria-describedby': hintId });
  const list = h('ul', { id: listId, role: 'listbox', 'aria-label': label, hidden: true });
  const el = h('div', { class: 'combo' },
    h('label', { for: id }, label, hint ? h('span', { class: 'hint', id: hintId }, `（${hint}）`) : null),
    input, list);

  function render(query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    shown = prepared.filter((o) => words.every((w) => o.haystack.includes(w))).slice(0, MAX_SHOWN);
    fill(list, ...shown.map((o, i) => h('li', { id: `${listId}-${i}`, role: 'option',
      'aria-selected': i === active ? 'true' : 'false', dataset: { value: o.value },
      onmousedown: (e) => { e.preventDefault(); pick(o); } },
    o.label, o.hint ? h('span', { class: 'hint' }, o.hint) : null)));
    if (!shown.length) list.append(h('li', { class: 'muted', role: 'option', 'aria-disabled': 'true' }, '没有匹配项'));
  }

  function open() {
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }

  function close() {
    list.hidden = true;
    active = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  function move(delta) {
    if (list.hidden) { render(input.value === (selected && selected.label) ? '' : input.value); open(); }
    if (!shown.length) return;
    active = (active + delta + shown.length) % shown.length;
    [...list.children].forEach((li, i) => li.setAttribute('aria-selected', i === active ? 'true' : 'false'));
    const li = list.children[active];
    input.setAttribute('aria-activedescendant', li.id);
    li.scrollIntoView({ block: 'nearest' });
  }

  function pick(option, notify = true) {
    selected = option;
    input.value = option ? option.label : '';
    close();
    if (notify) onChange(option);
  }

  input.addEventListener('input', () => { active = -1; render(input.value); open(); });
  input.addEventListener('focus', () => input.select());
  input.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'ArrowDown') { e.preventDefault(); move(1); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); move(-1); }
    else if (e.key === 'Enter') {
      if (!list.hidden) {
        e.preventDefault();
        const exact = shown.length === 1 ? shown[0] : shown[active];
        if (exact) pick(exact);
      }
    } else if (e.key === 'Escape') {
      if (!list.hidden) { e.preventDefault(); e.stopPropagation(); close(); input.value = selected ? selected.label : ''; }
    }
  });
  input.addEventListener('blur', () => {
    const typed = input.value.trim();
    const exact = prepared.find((o) => o.label === typed || o.value === typed);
    if (!typed) pick(null);
    else if (exact && exact !== selected) pick(exact);
    else input.value = selected ? selected.label : '';
    close();
  });

  const api = {
    el,
    input,
    get value() { return selected ? selected.value : null; },
    get option() { return selected; },
    setValue(v) { pick(prepared.find((o) => o.value === v) || null, false); },
    clear() { pick(null, false); },
    focus() { input.focus(); },
  };
  if (value !== null) api.setValue(value);
  return api;
}
