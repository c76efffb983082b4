// HTTP client: JSON in/out, the API key as `Authorization: Bearer`, the service's one error body.
const KEY_NAME = 'sqmy.apiKey';

export const auth = {
  get key() { return sessionStorage.getItem(KEY_NAME) || ''; },
  set(key) { sessionStorage.setItem(KEY_NAME, key); },
  clear() { sessionStorage.removeItem(KEY_NAME); },
};

const STATUS_TEXT = {
  401: '需要登录：API 密钥缺失、无效或已撤销',
  403: '当前账号的角色无权执行此操作',
  404: '接口或资源不存在',
  409: '操作被拒绝（冲突）',
  413: '内容超过服务允许的上限',
  422: '提交的内容有误',
  503: '服务暂不可用（模型未加载）',
};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || STATUS_TEXT[status] || `请求失败（HTTP ${status}）`);
    this.status = status;
    this.body = body;
    this.field = body && body.field;
    this.type = body && body.error_type;
  }
}

function headers(extra = {}) {
  const h = { ...extra };
  if (auth.key) h.Authorization = `Bearer ${auth.key}`;
  return h;
}

/** fetch with the key (and any extra headers); returns parsed JSON (or the Response with `raw`); throws ApiError. */
export async function api(path, { method = 'GET', json, form, raw = false, signal, headers: extra = {} } = {}) {
  const init = { method, headers: headers(extra), signal };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { error: '无法连接服务，请检查网络或服务是否在运行' });
  }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('sqmy:unauthorized'));
  if (!res.ok) {
    let body = null;
    try { body = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, body);
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

/** Download a (possibly protected) file: fetch with the key, then save the blob under the server's name. */
export async function download(path, fallbackName) {
  const res = await api(path, { raw: true });
  const disposition = res.headers.get('Content-Disposition') || '';
  let name = fallbackName;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  if (star) name = decodeURIComponent(star[1]);
  else if (plain) name = plain[1];
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}
