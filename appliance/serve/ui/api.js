// api.js: the admin JSON API (docs/api.md) as the pages call it.  The
// session cookie is HttpOnly: the page never sees it, only the CSRF token
// the login and GET /api/v1/session return, which every write sends back
// in X-CSRF-Token.

let csrf = null;
let onUnauthorized = () => {};

export function setCsrf(token) { csrf = token || null; }
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// The error an answer carries: {"error":{"code","message"}}, the older
// upload form {"status":"failed","error":"text"}, or the status line.
export function errorOf(status, text) {
  let j = null;
  try { j = JSON.parse(text); } catch (e) { /* not JSON: the text itself */ }
  if (j && j.error && typeof j.error === 'object')
    return new ApiError(status, String(j.error.code || ''), String(j.error.message || ''));
  if (j && typeof j.error === 'string') return new ApiError(status, '', j.error);
  return new ApiError(status, '', (text || '').trim() || 'HTTP ' + status);
}

const WRITES = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

// api(method, path, body): the answer's JSON (null for 204); throws ApiError.
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (WRITES.has(method) && csrf) headers['X-CSRF-Token'] = csrf;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  if (!res.ok) {
    const err = errorOf(res.status, text);
    if (res.status === 401 && path !== '/api/v1/login') onUnauthorized(err);
    throw err;
  }
  return text ? JSON.parse(text) : null;
}

// q({repo: "a/b"}): a query string; repository names carry slashes.
export function q(params) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') s.set(k, v);
  const t = s.toString();
  return t ? '?' + t : '';
}

// Streams file to PUT /api/v1/bundles; onProgress(sent, total) as it goes.
// XMLHttpRequest, not fetch: only its upload events report progress.
export function uploadBundle(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', '/api/v1/bundles');
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try { resolve(JSON.parse(xhr.responseText)); } catch (e) { resolve({}); }
      } else {
        reject(errorOf(xhr.status, xhr.responseText));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'NETWORK', 'the connection failed'));
    xhr.send(file);
  });
}
