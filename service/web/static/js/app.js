// Entry point: who am I (login when auth is on), hash routing between the three views, global shortcuts.
import { api, ApiError, auth } from './api.js';
import { announce, errorText, fill, h, ROLE_NAMES } from './util.js';
import * as classifyView from './classify.js';
import * as archiveView from './archive.js';
import * as modelsView from './models.js';
import * as queueView from './queue.js';
import * as pasteView from './paste.js';
import * as hotspotsView from './hotspots.js';
import { mountEngineStatus } from './status.js';

const VIEWS = { classify: classifyView, archive: archiveView, models: modelsView, queue: queueView, paste: pasteView,
  hotspots: hotspotsView };
const ROUTES = { '': 'classify', '#/': 'classify', '#/archive': 'archive', '#/models': 'models', '#/queue': 'queue',
  '#/paste': 'paste', '#/hotspots': 'hotspots' };
const VIEW_KEYS = { Digit1: '#/', Digit2: '#/archive', Digit3: '#/models', Digit4: '#/queue', Digit5: '#/paste' };
const main = document.getElementById('main');
const userBox = document.getElementById('user-box');
const ctx = { who: null };
let current = null; // {name, view, instance}

async function whoami() {
  try {
    return await api('/v1/whoami');
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      // a service without the auth module: everything is open
      return { auth: false, role: 'admin', name: '本地用户' };
    }
    throw err;
  }
}

function renderUser() {
  const who = ctx.who;
  if (!who) { fill(userBox, h('span', {}, '未登录')); return; }
  const role = ROLE_NAMES[who.role] || who.role;
  const parts = [h('span', { id: 'who' }, who.auth ? `${who.name}（${role}）` : `${who.name}（未启用鉴权）`)];
  if (who.auth) parts.push(h('button', { type: 'button', id: 'logout', onclick: logout }, '退出'));
  fill(userBox, ...parts);
}

function logout() {
  auth.clear();
  ctx.who = null;
  renderUser();
  showLogin('已退出登录。');
}

function showLogin(message = '') {
  unmountCurrent();
  const keyInput = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', required: true,
    'aria-describedby': 'login-hint' });
  const msg = h('p', { id: 'login-message', role: 'alert', class: message.includes('无效') ? 'error' : 'muted' }, message);
  const form = h('form', { id: 'login-form', class: 'card', style: { maxWidth: '32em' } },
    h('h1', {}, '登录'),
    h('p', { id: 'login-hint', class: 'muted' }, '本服务已启用鉴权，请输入管理员发给您的 API 密钥。密钥只保存在本浏览器标签页中，关闭后需重新登录。'),
    h('label', { for: 'api-key' }, 'API 密钥'),
    keyInput,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, '登录')),
    msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    auth.set(keyInput.value.trim());
    msg.className = 'muted';
    msg.textContent = '正在验证…';
    try {
      ctx.who = await whoami();
      renderUser();
      announce(`已登录：${ctx.who.name}`);
      route();
    } catch (err) {
      auth.clear();
      msg.className = 'error';
      msg.textContent = err.status === 401 ? '密钥无效或已撤销，请重新输入。' : errorText(err);
      keyInput.focus();
    }
  });
  fill(main, form);
  document.title = '登录 · 社情民意分类';
  keyInput.focus();
}

function unmountCurrent() {
  if (current && current.instance && current.instance.unmount) current.instance.unmount();
  current = null;
}

function route() {
  if (!ctx.who) return;
  const name = ROUTES[location.hash] || 'classify';
  for (const a of document.querySelectorAll('.nav a')) {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  unmountCurrent();
  fill(main);
  const view = VIEWS[name];
  current = { name, view, instance: view.mount(main, ctx) };
  document.title = `${view.TITLE} · 社情民意分类`;
}

/** After a view change the keyboard lands on the view's heading (with a visible ring), not on <main>. */
function focusHeading() {
  const heading = main.querySelector('h1');
  if (!heading) { main.focus(); return; }
  if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
  heading.focus();
}

window.addEventListener('hashchange', () => { route(); focusHeading(); });
window.addEventListener('sqmy:unauthorized', () => {
  if (ctx.who && ctx.who.auth) {
    auth.clear();
    ctx.who = null;
    renderUser();
    showLogin('登录已失效（密钥无效或已撤销），请重新登录。');
  }
});

document.addEventListener('keydown', (e) => {
  if (e.altKey && !e.ctrlKey && !e.metaKey && VIEW_KEYS[e.code]) {
    e.preventDefault();
    location.hash = VIEW_KEYS[e.code];
    return;
  }
  if (current && current.instance && current.instance.onKey) current.instance.onKey(e);
});

async function start() {
  mountEngineStatus(document.getElementById('engine-status'));
  try {
    ctx.who = await whoami();
  } catch (err) {
    renderUser();
    if (err.status === 401) { showLogin(auth.key ? '登录已失效，请重新登录。' : ''); return; }
    fill(main, h('p', { class: 'error', role: 'alert' }, `无法连接服务：${errorText(err)}`));
    return;
  }
  renderUser();
  route();
}

start();
