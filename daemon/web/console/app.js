// SPDX-License-Identifier: Apache-2.0
// zonegate console: one ES module, no framework, no build step. The API it speaks is described in
// docs/openapi.yaml. Everything shown comes from the server and is inserted as text (never as HTML),
// so a person's name or an alarm detail cannot inject markup.

const API = '/api/v1';
const REQUEST_TIMEOUT_MS = 15000;
const WS_BACKOFF_MIN_MS = 1000;
const WS_BACKOFF_MAX_MS = 30000;
const MAX_ACKED_SHOWN = 50;
const TOAST_MS = 8000;
// Marks requests the page makes on its own (refetches after a push, reconnects, session checks):
// the server does not count them as operator activity, so a console left open still idles out.
const BACKGROUND_HEADER = 'X-Zonegate-Background';
const EXPIRED_MESSAGE = 'Your session has expired. Sign in again.';

const ALARM_LABELS = {
  door_forced: 'Door forced open',
  door_held_prealarm: 'Door held open (pre-alarm)',
  door_held: 'Door held open',
  screening_alarm: 'Screening alarm',
  anti_passback: 'Anti-passback',
  lone_zone: 'Lone person in zone',
  tamper: 'Tamper',
  fire: 'Fire alarm',
  reader_offline: 'Reader offline',
  audit_failure: 'Audit trail failure',
};
const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
const REASONS = [
  'ok', 'unknown_badge', 'revoked', 'not_yet_valid', 'expired', 'weak_credential', 'credential_auth_failed',
  'lockdown', 'no_clearance', 'outside_schedule', 'anti_passback', 'occupancy_full', 'held', 'escort_required',
  'escort_timeout', 'two_person', 'two_person_timeout', 'lone_zone', 'screening', 'screening_failed',
  'screening_timeout', 'interlock_busy', 'released', 'fire', 'forgiven', 'cancelled', 'audit_unavailable',
];

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** The element with data-testid=id (the stable hooks the tests use are also the app's own). */
function $(id, root = document) {
  return root.querySelector(`[data-testid="${id}"]`);
}

/** Creates an element; attrs go to properties or attributes, children are nodes or text. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'testid') e.dataset.testid = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const timeFormat = new Intl.DateTimeFormat('sv-SE', {
  year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  hour12: false,
});

/** Parses a server time: ISO 8601 text, or milliseconds (or seconds) since the epoch. */
function toDate(v) {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'number') return new Date(v < 1e11 ? v * 1000 : v);
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A time in the browser's local time as "YYYY-MM-DD HH:MM:SS"; unreadable values as given. */
function fmtTime(v) {
  const d = toDate(v);
  return d ? timeFormat.format(d) : (v ?? '').toString();
}

/** A datetime-local input's value (browser local time) as ISO 8601 UTC, or '' when empty. */
function localInputToIso(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace('.000Z', 'Z');
}

/** A server time as the value of a datetime-local input (browser local time). */
function isoToLocalInput(v) {
  const d = toDate(v);
  if (!d) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The array in a list response: body[key], else the first array-valued member. */
function listFrom(body, key) {
  if (!body || typeof body !== 'object') return [];
  if (Array.isArray(body[key])) return body[key];
  const first = Object.values(body).find(Array.isArray);
  return first ?? [];
}

function debounce(fn, ms) {
  let t = null;
  return () => {
    clearTimeout(t);
    t = setTimeout(fn, ms);
  };
}

// ---------------------------------------------------------------------------------------------
// API client

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const state = {
  session: null, // {operator, role, csrf, idle_timeout_s}
  ws: null,
  wsBackoff: WS_BACKOFF_MIN_MS,
  wsTimer: null,
  idleTimer: null,
  lastActivity: Date.now(),
  alarms: new Map(), // id (string) -> alarm as the server sent it
  doors: [],
  doorRows: new Map(), // door id -> {sig, node}: a row is rebuilt only when its door changed
  fire: false,
  zones: [],
  musterBlocks: new Map(), // muster section key -> {sig, node}
  audit: { filter: null, cursors: [null], page: 0, next: null },
  people: { next: null, rows: [] },
  badges: { next: null, rows: [], person: '' },
  sound: { on: false, ctx: null, reminder: null },
  generation: 0, // bumped at every login/logout so late answers of an old session are dropped
};

/**
 * Calls the API. Returns the parsed JSON body (or null for 204). Non-2xx answers become an ApiError
 * carrying the server's {"error","message"}; a 401 on anything but the login itself ends the session.
 * opts.login: the login itself (a 401 is a wrong password); opts.background: the page asks on its
 * own, not because the operator did something (sends X-Zonegate-Background: 1).
 */
async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.background) headers[BACKGROUND_HEADER] = '1';
  if (method !== 'GET' && method !== 'HEAD' && state.session?.csrf) headers['X-CSRF-Token'] = state.session.csrf;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
  const generation = state.generation;
  let res;
  try {
    res = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: ctl.signal,
    });
  } catch (e) {
    throw new ApiError(0, 'network', e.name === 'AbortError'
      ? 'The gateway did not answer in time. Check the connection and try again.'
      : 'Cannot reach the gateway. Check the connection and try again.');
  } finally {
    clearTimeout(timer);
  }
  if (res.ok) {
    if (res.status === 204) return null;
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }
  let code = `http_${res.status}`;
  let message = `The gateway refused the request (HTTP ${res.status}).`;
  try {
    const j = await res.json();
    if (j && typeof j === 'object') {
      if (j.error) code = String(j.error);
      if (j.message) message = String(j.message);
    }
  } catch {
    // Not JSON (a proxy's page, say): keep the generic message.
  }
  const err = new ApiError(res.status, code, message);
  if (res.status === 401 && !opts.login && generation === state.generation && state.session) {
    endSession(code === 'session_expired' ? EXPIRED_MESSAGE : `Signed out: ${message}`);
  }
  throw err;
}

/** Runs an action, reporting a server refusal as a toast; returns undefined on failure. */
async function attempt(fn, what) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return undefined; // handled: back at the login
    toast(`${what}: ${e.message}`, 'error');
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Toasts and the action dialog

function toast(text, kind = 'info') {
  const close = el('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss' }, '×');
  const t = el('div', { class: `toast ${kind}`, testid: kind === 'error' ? 'error' : 'toast', role: kind === 'error' ? 'alert' : 'status' },
    el('span', {}, text), close);
  close.addEventListener('click', () => t.remove());
  $('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'error' ? TOAST_MS * 2 : TOAST_MS);
}

/**
 * Opens the action dialog. opts: title, text, caption (label of the note), note (true: a note or
 * reason is asked for and mandatory), validity (true: ask for a validity window), confirm (button
 * text), run(values) (async; an ApiError keeps the dialog open with the server's message).
 * Resolves true when run succeeded, false when cancelled.
 */
function openDialog(opts) {
  const dlg = $('action-dialog');
  const form = $('action-form');
  const note = $('action-note');
  const from = $('action-valid-from');
  const until = $('action-valid-until');
  const msg = $('action-message');
  $('action-title').textContent = opts.title;
  $('action-text').textContent = opts.text ?? '';
  $('action-note-caption').textContent = opts.caption ?? 'Note';
  $('action-note-label').hidden = !opts.note;
  note.required = Boolean(opts.note);
  note.value = '';
  $('action-from-label').hidden = !opts.validity;
  $('action-until-label').hidden = !opts.validity;
  from.value = opts.validFrom ?? '';
  until.value = opts.validUntil ?? '';
  msg.textContent = '';
  $('action-confirm').textContent = opts.confirm ?? 'Confirm';
  $('action-confirm').className = opts.danger ? 'danger' : '';

  return new Promise((resolve) => {
    let busy = false;
    const finish = (ok) => {
      form.removeEventListener('submit', onSubmit);
      $('action-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      resolve(ok);
    };
    const onCancel = (e) => {
      e.preventDefault();
      if (!busy) finish(false);
    };
    const onSubmit = async (e) => {
      e.preventDefault();
      if (busy) return;
      const values = { note: note.value.trim(), valid_from: localInputToIso(from.value), valid_until: localInputToIso(until.value) };
      if (opts.note && !values.note) {
        msg.textContent = `${opts.caption ?? 'A note'} is required.`;
        note.focus();
        return;
      }
      busy = true;
      $('action-confirm').disabled = true;
      try {
        await opts.run(values);
        finish(true);
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) finish(false);
        else msg.textContent = err.message;
      } finally {
        busy = false;
        $('action-confirm').disabled = false;
      }
    };
    form.addEventListener('submit', onSubmit);
    $('action-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    (opts.note ? note : $('action-confirm')).focus();
  });
}

// ---------------------------------------------------------------------------------------------
// Session: login, logout, idle timeout

const VIEWS = ['view-login', 'view-guard', 'view-auditor', 'view-admin'];

function showView(id) {
  for (const v of VIEWS) $(v).hidden = v !== id;
  document.body.dataset.view = id;
}

function showLogin(message = '') {
  showView('view-login');
  $('session-bar').hidden = true;
  $('login-message').textContent = message;
  $('login-password').value = '';
  $('login-name').focus();
}

async function startSession(s) {
  state.generation += 1;
  state.session = s;
  state.wsBackoff = WS_BACKOFF_MIN_MS;
  $('session-bar').hidden = false;
  $('whoami').textContent = `${s.operator} (${s.role})`;
  $('login-message').textContent = '';
  noteActivity();
  if (s.role === 'guard') {
    showView('view-guard');
    await enterGuard();
  } else if (s.role === 'auditor') {
    showView('view-auditor');
    await enterAuditor();
  } else if (s.role === 'admin') {
    showView('view-admin');
    await enterAdmin();
  } else {
    showLogin(`The role "${s.role}" has no view in this console.`);
  }
  document.getElementById('main').focus();
}

/** Leaves the session locally (the server side is already gone or was just deleted). */
function endSession(message) {
  state.generation += 1;
  state.session = null;
  clearTimeout(state.idleTimer);
  closeLive();
  stopReminder();
  clearData();
  showLogin(message);
}

function clearData() {
  state.alarms.clear();
  resetAlarmView();
  state.doors = [];
  state.doorRows.clear();
  state.zones = [];
  state.musterBlocks.clear();
  state.audit = { filter: null, cursors: [null], page: 0, next: null };
  state.people = { next: null, rows: [] };
  state.badges = { next: null, rows: [], person: '' };
  for (const id of ['alarm-list', 'door-rows', 'muster-zones', 'audit-rows', 'people-rows', 'badge-rows', 'operator-rows']) {
    $(id).replaceChildren();
  }
  $('fire-banner').hidden = true;
  $('banner').hidden = true;
  $('toasts').replaceChildren();
  delete $('lockdown-zone').dataset.zones;
  document.title = 'zonegate console';
}

async function onLogin(e) {
  e.preventDefault();
  const name = $('login-name').value.trim();
  const password = $('login-password').value;
  $('login-message').textContent = '';
  $('login-submit').disabled = true;
  let s;
  try {
    s = await api('POST', '/session', { name, password }, { login: true });
  } catch (err) {
    $('login-message').textContent = err.message;
    $('login-password').value = '';
    $('login-password').focus();
    return;
  } finally {
    $('login-submit').disabled = false;
  }
  $('login-password').value = '';
  await startSession(s);
}

async function onLogout() {
  try {
    await api('DELETE', '/session');
  } catch {
    // Already gone on the server: leaving locally is all that is left to do.
  }
  endSession('Signed out.');
}

function noteActivity() {
  state.lastActivity = Date.now();
  scheduleIdleCheck();
}

/**
 * The server ends idle sessions; the page notices at the latest one idle period after the last
 * user action by asking for its session, so a guard is not left looking at a stale screen.
 */
function scheduleIdleCheck() {
  clearTimeout(state.idleTimer);
  const s = state.session;
  if (!s || !s.idle_timeout_s) return;
  const due = state.lastActivity + s.idle_timeout_s * 1000 + 1000 - Date.now();
  state.idleTimer = setTimeout(async () => {
    if (!state.session) return;
    if (Date.now() - state.lastActivity < s.idle_timeout_s * 1000) {
      scheduleIdleCheck();
      return;
    }
    try {
      await api('GET', '/session', undefined, { background: true });
      state.lastActivity = Date.now();
      scheduleIdleCheck();
    } catch {
      // A 401 has already returned to the login; a network error is retried at the next period.
      if (state.session) {
        state.lastActivity = Date.now();
        scheduleIdleCheck();
      }
    }
  }, Math.max(1000, due));
}

// ---------------------------------------------------------------------------------------------
// Guard: alarms, doors, held people, lockdown, muster list, live updates

async function enterGuard() {
  $('show-acked').checked = localStorage.getItem('zg.showAcked') !== 'no';
  $('sound-toggle').checked = localStorage.getItem('zg.sound') === 'on';
  state.sound.on = $('sound-toggle').checked;
  await Promise.all([loadAlarms(), loadDoors(), loadOccupancy()]);
  openLive();
  updateReminder();
}

async function loadAlarms(opts = {}) {
  const gen = state.generation;
  const body = await attempt(() => api('GET', '/alarms', undefined, opts), 'Loading alarms');
  if (!body || gen !== state.generation) return;
  state.alarms.clear();
  for (const a of listFrom(body, 'alarms')) state.alarms.set(String(a.id), a);
  renderAlarms();
}

// The alarm list is kept in step with state.alarms one alarm at a time: a push inserts or replaces
// one element, so the cost of an alarm does not grow with the number already on the screen (a
// night with hundreds unacknowledged must not delay the next one). The whole list is rebuilt only
// after a full fetch (login, reconnect) and when the "show acknowledged" choice changes.
//
// Order (as the sort of the whole list always was): unacknowledged first, by severity then newest
// first; then acknowledged, newest first, at most MAX_ACKED_SHOWN of them. Equal times: the higher
// id (the later alarm) first. `open` and `acked` hold the sort keys in that order; the elements on
// the page are all of `open` and a prefix of `acked`.
const alarmView = {
  open: [],
  acked: [],
  keys: new Map(), // id -> its key in open/acked
  els: new Map(), // id -> its element, for the alarms on the page
  unacked: 0,
  critical: 0, // unacknowledged critical alarms (the sound reminder)
  fresh: null, // the element marked as just arrived
};

function resetAlarmView() {
  const v = alarmView;
  v.open = [];
  v.acked = [];
  v.keys.clear();
  v.els.clear();
  v.unacked = 0;
  v.critical = 0;
  v.fresh = null;
}

function alarmKey(id, a) {
  const t = toDate(a.at)?.getTime();
  return { id, acked: Boolean(a.acknowledged), rank: SEVERITY_RANK[a.severity] ?? 3, t: Number.isFinite(t) ? t : 0, n: Number(id) };
}

function compareAlarmKeys(x, y) {
  if (x.acked !== y.acked) return x.acked ? 1 : -1;
  if (!x.acked && x.rank !== y.rank) return x.rank - y.rank;
  if (x.t !== y.t) return y.t - x.t;
  if (Number.isFinite(x.n) && Number.isFinite(y.n) && x.n !== y.n) return y.n - x.n;
  return x.id < y.id ? 1 : x.id > y.id ? -1 : 0;
}

/** The first index of the sorted list whose key sorts at or after k (binary search). */
function alarmIndex(list, k) {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareAlarmKeys(list[mid], k) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function ackedShownMax() {
  return $('show-acked').checked ? MAX_ACKED_SHOWN : 0;
}

function countAlarm(a, delta) {
  if (a.acknowledged) return;
  alarmView.unacked += delta;
  if (a.severity === 'critical') alarmView.critical += delta;
}

/** Rebuilds the whole list from state.alarms (after a full fetch, or the acknowledged choice). */
function renderAlarms() {
  resetAlarmView();
  const v = alarmView;
  for (const [id, a] of state.alarms) {
    const k = alarmKey(id, a);
    v.keys.set(id, k);
    (k.acked ? v.acked : v.open).push(k);
    countAlarm(a, 1);
  }
  v.open.sort(compareAlarmKeys);
  v.acked.sort(compareAlarmKeys);
  const shown = [...v.open, ...v.acked.slice(0, ackedShownMax())];
  $('alarm-list').replaceChildren(...shown.map((k) => {
    const e = alarmItem(state.alarms.get(k.id), false);
    v.els.set(k.id, e);
    return e;
  }));
  updateAlarmSummary();
}

/**
 * Puts one alarm (new, updated or acknowledged) into state.alarms and the list: only its own element
 * is removed and, where the order puts it, inserted again. isNew marks it as just arrived.
 */
function putAlarm(id, a, isNew = false) {
  const v = alarmView;
  const list = $('alarm-list');
  // A change to the list ends the "just arrived" mark of the previous newcomer, as a rebuild did.
  if (v.fresh) {
    v.fresh.classList.remove('new');
    v.fresh = null;
  }
  const old = state.alarms.get(id);
  const oldKey = v.keys.get(id);
  if (old && oldKey) {
    countAlarm(old, -1);
    const from = oldKey.acked ? v.acked : v.open;
    const i = alarmIndex(from, oldKey);
    if (from[i] === oldKey) from.splice(i, 1);
    v.els.get(id)?.remove();
    v.els.delete(id);
  }
  state.alarms.set(id, a);
  const k = alarmKey(id, a);
  v.keys.set(id, k);
  countAlarm(a, 1);
  const into = k.acked ? v.acked : v.open;
  const at = alarmIndex(into, k);
  into.splice(at, 0, k);
  if (!k.acked || at < ackedShownMax()) {
    // Before the element that now follows it; the first acknowledged one follows the last open one.
    // An acknowledged successor that is not on the page means this one is the last shown.
    const next = at + 1 < into.length ? into[at + 1] : (k.acked ? null : v.acked[0]);
    const e = alarmItem(a, isNew);
    list.insertBefore(e, (next && v.els.get(next.id)) ?? null);
    v.els.set(id, e);
    if (isNew) v.fresh = e;
  }
  trimAckedShown();
  updateAlarmSummary();
}

/**
 * Keeps the acknowledged alarms on the page exactly the first ackedShownMax() of v.acked: one put
 * moves that boundary by at most one place either way.
 */
function trimAckedShown() {
  const v = alarmView;
  const max = ackedShownMax();
  if (max > 0 && v.acked.length >= max) {
    const last = v.acked[max - 1];
    if (!v.els.has(last.id)) {
      const e = alarmItem(state.alarms.get(last.id), false);
      $('alarm-list').append(e);
      v.els.set(last.id, e);
    }
  }
  const beyond = v.acked[max];
  if (beyond && v.els.has(beyond.id)) {
    v.els.get(beyond.id).remove();
    v.els.delete(beyond.id);
  }
}

function updateAlarmSummary() {
  const n = alarmView.unacked;
  const count = n ? `${n} unacknowledged` : '';
  if ($('alarm-count').textContent !== count) $('alarm-count').textContent = count;
  $('alarm-empty').hidden = alarmView.els.size > 0;
  document.title = n ? `(${n}) zonegate console` : 'zonegate console';
}

function alarmItem(a, isNew) {
  const sev = a.severity || 'warning';
  const label = ALARM_LABELS[a.kind] ?? a.kind;
  const facts = el('p', { class: 'facts' },
    a.source ? el('span', {}, 'at ', el('strong', {}, a.source)) : null,
    a.person ? el('span', { testid: 'alarm-person' }, ' person ', el('strong', {}, a.person)) : null,
    a.detail ? el('span', { testid: 'alarm-detail' }, ` — ${a.detail}`) : null);
  let tail;
  if (a.acknowledged) {
    tail = el('p', { class: 'ack-info', testid: 'alarm-ack-info' },
      `Acknowledged by ${a.ack_by || 'unknown'}`, a.ack_note ? `: ${a.ack_note}` : '');
  } else {
    tail = el('button', { type: 'button', class: 'ack', testid: 'alarm-ack', onclick: () => ackAlarm(a) }, 'Acknowledge…');
  }
  return el('li', {
    class: `alarm sev-${sev}${a.acknowledged ? ' acked' : ''}${isNew ? ' new' : ''}`,
    testid: 'alarm-item',
    dataset: { alarmId: String(a.id), kind: a.kind ?? '', severity: sev, acknowledged: a.acknowledged ? 'true' : 'false' },
  },
  el('div', { class: 'alarm-head' },
    el('span', { class: 'sev', testid: 'alarm-severity' }, sev.toUpperCase()),
    el('span', { class: 'kind', testid: 'alarm-kind' }, label),
    el('time', { class: 'at', datetime: toDate(a.at)?.toISOString() ?? '' }, fmtTime(a.at)),
    el('span', { class: 'id' }, `#${a.id}`)),
  facts, tail);
}

function ackAlarm(a) {
  const label = ALARM_LABELS[a.kind] ?? a.kind;
  return openDialog({
    title: `Acknowledge alarm #${a.id}`,
    text: `${label}${a.source ? ` at ${a.source}` : ''}${a.person ? `, person ${a.person}` : ''}. What was found and done?`,
    caption: 'Note (required)',
    note: true,
    confirm: 'Acknowledge',
    run: async ({ note }) => {
      const res = await api('POST', `/alarms/${encodeURIComponent(a.id)}/ack`, { note });
      const cur = state.alarms.get(String(a.id)) ?? a;
      putAlarm(String(a.id), { ...cur, ...(res?.alarm ?? {}), acknowledged: true, ack_by: res?.alarm?.ack_by ?? cur.ack_by ?? state.session?.operator, ack_note: res?.alarm?.ack_note ?? note });
      updateReminder();
      toast(`Alarm #${a.id} acknowledged.`);
    },
  });
}

async function loadDoors(opts = {}) {
  const gen = state.generation;
  const body = await attempt(() => api('GET', '/doors', undefined, opts), 'Loading doors');
  if (!body || gen !== state.generation) return;
  state.doors = listFrom(body, 'doors');
  state.fire = Boolean(body.fire);
  renderDoors();
}

function heldName(h) {
  return typeof h === 'string' ? h : (h?.person ?? h?.id ?? '');
}

/**
 * Makes parent's children exactly `nodes`, in that order, touching only what is new or out of
 * place: rows that did not change stay as they are (no rebuild, no re-insertion).
 */
function reconcile(parent, nodes) {
  let cur = parent.firstChild;
  for (const n of nodes) {
    if (n === cur) {
      cur = cur.nextSibling;
    } else {
      parent.insertBefore(n, cur);
    }
  }
  while (cur) {
    const next = cur.nextSibling;
    cur.remove();
    cur = next;
  }
}

/**
 * Returns the node cached under key if its data (sig) is unchanged, else builds it; `seen` collects
 * the keys in use so that the cache can drop the rest.
 */
function cachedNode(cache, seen, key, data, build) {
  const sig = JSON.stringify(data);
  seen.add(key);
  const hit = cache.get(key);
  if (hit && hit.sig === sig) return hit.node;
  const node = build();
  cache.set(key, { sig, node });
  return node;
}

function dropUnseen(cache, seen) {
  for (const key of cache.keys()) if (!seen.has(key)) cache.delete(key);
}

// Door hints come after every alarm and every door event: the table is refetched, but only the
// rows of doors whose state changed are rebuilt.
function renderDoors() {
  $('fire-banner').hidden = !state.fire;
  const seen = new Set();
  reconcile($('door-rows'), state.doors.map((d) => cachedNode(state.doorRows, seen, String(d.id), d, () => doorRow(d))));
  dropUnseen(state.doorRows, seen);
}

function doorRow(d) {
  const held = Array.isArray(d.held) ? d.held : [];
  const stateText = String(d.state ?? '');
  const alarmState = /forced|held/i.test(stateText);
  return el('tr', { testid: 'door-row', dataset: { doorId: d.id, locked: d.locked ? 'true' : 'false', lockdown: d.lockdown ? 'true' : 'false' } },
    el('th', { scope: 'row' }, d.name && d.name !== d.id ? `${d.name} ` : '', el('span', { class: d.name && d.name !== d.id ? 'muted' : '' }, d.id),
      d.outer && d.inner ? el('div', { class: 'muted small-text' }, `${d.outer} → ${d.inner}`) : null),
    el('td', { testid: 'door-state', class: alarmState ? 'bad' : '' }, stateText.replace(/_/g, ' ')),
    el('td', { testid: 'door-lock' },
      el('span', { class: d.locked ? 'pill ok' : 'pill warn' }, d.locked ? 'locked' : 'unlocked'),
      d.lockdown ? el('span', { class: 'pill bad', testid: 'door-lockdown' }, 'LOCKDOWN') : null,
      d.fire_release ? el('span', { class: 'pill bad' }, 'FIRE RELEASE') : null),
    el('td', { testid: 'door-held' }, held.length === 0 ? el('span', { class: 'muted' }, 'none') : el('ul', { class: 'plain' },
      held.map((h) => el('li', {}, el('strong', {}, heldName(h)), ' ',
        el('button', { type: 'button', class: 'small', testid: 'held-release', dataset: { person: heldName(h) }, onclick: () => releaseHeld(d, heldName(h)) }, 'Release…'))))),
    el('td', { class: 'actions' },
      el('button', { type: 'button', class: 'secondary', testid: 'door-unlock', onclick: () => unlockDoor(d) }, 'Unlock once…')));
}

function unlockDoor(d) {
  return openDialog({
    title: `Unlock ${d.name || d.id} once`,
    text: 'The strike is released for the door\'s unlock time, then locks again. The reason is recorded with your name.',
    caption: 'Reason (required)',
    note: true,
    confirm: 'Unlock',
    danger: true,
    run: async ({ note }) => {
      await api('POST', `/doors/${encodeURIComponent(d.id)}/unlock`, { reason: note });
      toast(`${d.name || d.id} unlocked.`);
      await loadDoors();
    },
  });
}

function releaseHeld(d, person) {
  return openDialog({
    title: `Release ${person} at ${d.name || d.id}`,
    text: 'Release the person held after a gate alarm, once they have been checked.',
    caption: 'Note (required)',
    note: true,
    confirm: 'Release',
    run: async ({ note }) => {
      await api('POST', '/held/release', { door: d.id, person, note });
      toast(`${person} released.`);
      await Promise.all([loadDoors(), loadOccupancy()]);
    },
  });
}

function lockdown(lift) {
  const zone = $('lockdown-zone').value;
  const where = zone ? `zone ${zone}` : 'the whole site';
  return openDialog({
    title: lift ? `Lift the lockdown of ${where}` : `Lock down ${where}`,
    text: lift ? 'Doors return to their normal rules.' : 'Every door into the area refuses badges until the lockdown is lifted. Fire egress still opens.',
    caption: 'Reason (required)',
    note: true,
    confirm: lift ? 'Lift lockdown' : 'Lock down',
    danger: !lift,
    run: async ({ note }) => {
      const body = { reason: note };
      if (zone) body.zone = zone;
      await api('POST', lift ? '/lockdown/lift' : '/lockdown', body);
      toast(lift ? `Lockdown of ${where} lifted.` : `${where} locked down.`);
      await loadDoors();
    },
  });
}

async function loadOccupancy(opts = {}) {
  const gen = state.generation;
  const body = await attempt(() => api('GET', '/occupancy', undefined, opts), 'Loading the muster list');
  if (!body || gen !== state.generation) return;
  state.zones = listFrom(body, 'zones');
  const outside = Array.isArray(body.outside) ? body.outside : [];
  const unknown = Array.isArray(body.unknown) ? body.unknown : [];
  renderOccupancy(outside, unknown);
}

function personLine(p) {
  if (typeof p === 'string') return el('li', { testid: 'muster-person', dataset: { person: p } }, p);
  return el('li', { testid: 'muster-person', dataset: { person: p.person ?? '' } },
    el('strong', {}, p.name || p.person), p.name && p.name !== p.person ? el('span', { class: 'muted' }, ` ${p.person}`) : null,
    p.since ? el('span', { class: 'muted since' }, ` since ${fmtTime(p.since)}`) : null);
}

function renderOccupancy(outside, unknown) {
  // The zone choice is rebuilt only when the zones change, not at every occupancy update, so
  // that a live update does not close the list under the guard's pointer.
  const sel = $('lockdown-zone');
  const ids = state.zones.map((z) => z.id).join('\n');
  if (sel.dataset.zones !== ids) {
    const chosen = sel.value;
    sel.replaceChildren(el('option', { value: '' }, 'Whole site'),
      ...state.zones.map((z) => el('option', { value: z.id }, z.name && z.name !== z.id ? `${z.name} (${z.id})` : z.id)));
    sel.value = state.zones.some((z) => z.id === chosen) ? chosen : '';
    sel.dataset.zones = ids;
  }
  // Occupancy hints follow every granted entry: only the sections of zones whose people changed
  // are rebuilt.
  const seen = new Set();
  const blocks = state.zones.map((z) => cachedNode(state.musterBlocks, seen, `zone:${z.id}`, z, () => musterZone(z)));
  // After a fire alarm nobody's location is known: they are listed apart, first, for the roll call.
  if (unknown.length) {
    blocks.unshift(cachedNode(state.musterBlocks, seen, 'unknown', unknown, () => el('section', { class: 'zone unknown', testid: 'muster-zone', dataset: { zoneId: '' } },
      el('h3', {}, 'Location unknown ', el('span', { class: 'count' }, `${unknown.length}`)),
      el('ul', { class: 'people' }, unknown.map(personLine)))));
  }
  if (outside.length) {
    blocks.push(cachedNode(state.musterBlocks, seen, 'outside', outside, () => el('section', { class: 'zone', testid: 'muster-zone', dataset: { zoneId: 'outside' } },
      el('h3', {}, 'Outside (left the building) ', el('span', { class: 'count' }, `${outside.length}`)),
      el('ul', { class: 'people' }, outside.map(personLine)))));
  }
  dropUnseen(state.musterBlocks, seen);
  reconcile($('muster-zones'), blocks);
  $('muster-time').textContent = `as of ${fmtTime(Date.now())}`;
}

function musterZone(z) {
  const people = Array.isArray(z.people) ? z.people : [];
  // `occupancy` counts the zone with its sub-zones (what max_occupancy limits); the list names
  // only those directly in this zone.
  const total = typeof z.occupancy === 'number' && z.occupancy !== people.length
    ? ` · ${z.occupancy} with sub-zones` : '';
  const max = typeof z.max === 'number' && z.max > 0 ? ` (max ${z.max})` : '';
  return el('section', { class: 'zone', testid: 'muster-zone', dataset: { zoneId: z.id } },
    el('h3', {}, z.name && z.name !== z.id ? `${z.name} ` : '', el('span', { class: 'zone-id' }, z.id), ' ',
      el('span', { class: 'count', testid: 'muster-count' }, `${people.length} ${people.length === 1 ? 'person' : 'people'}${total}${max}`)),
    people.length ? el('ul', { class: 'people' }, people.map(personLine)) : el('p', { class: 'muted' }, 'nobody'));
}

/**
 * fn, but never twice at once: a call while one runs is folded into a single rerun after it, so a
 * burst of hints costs at most one request in flight and one waiting.
 */
function serialized(fn) {
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        await fn();
      } while (again);
    } finally {
      running = false;
    }
  };
  return run;
}

// Live updates: alarms are pushed; door and occupancy messages are hints to refetch. These
// refetches are the page's own doing, not the operator's: they are background requests.
const BACKGROUND = { background: true };
const refetchDoors = debounce(serialized(() => loadDoors(BACKGROUND)), 150);
const refetchOccupancy = debounce(serialized(() => loadOccupancy(BACKGROUND)), 150);
const refetchAlarms = serialized(() => loadAlarms(BACKGROUND));

/** Shows the state of the live connection; `warn` adds the banner that alarms may be missed. */
function setLive(on, text, warn = false) {
  const s = $('live-status');
  s.dataset.state = on ? 'on' : 'off';
  s.textContent = text;
  $('banner').hidden = !warn;
  $('banner').textContent = warn ? 'Live updates are interrupted: new alarms may not show. Reconnecting…' : '';
}

function openLive() {
  closeLive();
  const gen = state.generation;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${API}/live`;
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    scheduleReconnect(gen);
    return;
  }
  state.ws = ws;
  setLive(false, 'connecting…', state.wsBackoff > WS_BACKOFF_MIN_MS);
  ws.addEventListener('open', () => {
    if (gen !== state.generation) return;
    state.wsBackoff = WS_BACKOFF_MIN_MS;
    setLive(true, 'live');
  });
  ws.addEventListener('message', (ev) => {
    if (gen !== state.generation) return;
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch {
      return;
    }
    onLiveMessage(m);
  });
  ws.addEventListener('close', () => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (gen !== state.generation || !state.session) return;
    setLive(false, 'reconnecting…', true);
    onLiveClosed(gen);
  });
}

/**
 * The server closes the live socket when the session ends (logout elsewhere, operator disabled,
 * idle or absolute timeout) as well as when it restarts or drops a client that fell behind. The page
 * asks for its session at once, so a guard is not left looking at a screen that no longer updates:
 * a 401 returns to the login saying why (api() does that); otherwise it reconnects with backoff.
 */
async function onLiveClosed(gen) {
  try {
    await api('GET', '/session', undefined, BACKGROUND);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
  }
  if (gen === state.generation && state.session) scheduleReconnect(gen);
}

function scheduleReconnect(gen) {
  clearTimeout(state.wsTimer);
  const delay = state.wsBackoff * (0.75 + Math.random() * 0.5);
  state.wsBackoff = Math.min(state.wsBackoff * 2, WS_BACKOFF_MAX_MS);
  state.wsTimer = setTimeout(async () => {
    if (gen !== state.generation || !state.session) return;
    // A closed socket may mean an expired session: asking ends it cleanly (401 -> login).
    try {
      await api('GET', '/session', undefined, BACKGROUND);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      scheduleReconnect(gen);
      return;
    }
    openLive();
    // Anything pushed while disconnected is lost: refetch the whole picture.
    await Promise.all([loadAlarms(BACKGROUND), loadDoors(BACKGROUND), loadOccupancy(BACKGROUND)]);
  }, delay);
}

function closeLive() {
  clearTimeout(state.wsTimer);
  if (state.ws) {
    const ws = state.ws;
    state.ws = null;
    ws.close();
  }
  setLive(false, '');
}

function onLiveMessage(m) {
  switch (m.type) {
    case 'alarm': {
      if (!m.alarm) return;
      const id = String(m.alarm.id);
      const known = state.alarms.has(id);
      putAlarm(id, { ...(state.alarms.get(id) ?? {}), ...m.alarm }, !known);
      if (!known && !m.alarm.acknowledged) {
        beep(m.alarm.severity);
        updateReminder();
      }
      break;
    }
    case 'alarm_ack': {
      const id = String(m.id ?? m.alarm?.id);
      const cur = state.alarms.get(id);
      if (!cur) {
        refetchAlarms();
        return;
      }
      putAlarm(id, { ...cur, ...(m.alarm ?? {}), acknowledged: true, ack_by: m.ack_by ?? m.alarm?.ack_by ?? cur.ack_by, ack_note: m.ack_note ?? m.note ?? m.alarm?.ack_note ?? cur.ack_note });
      updateReminder();
      break;
    }
    case 'doors':
      refetchDoors();
      break;
    case 'occupancy':
      refetchOccupancy();
      break;
    default:
      break; // hello and anything newer
  }
}

// Sound: generated with WebAudio (no file to fetch), and only after the guard switched it on,
// which is also the user gesture browsers require before audio may play.
function beep(severity) {
  if (!state.sound.on || !state.sound.ctx) return;
  const ctx = state.sound.ctx;
  if (ctx.state === 'suspended') ctx.resume();
  const pattern = severity === 'critical' ? [880, 660, 880] : severity === 'info' ? [440] : [660, 660];
  let t = ctx.currentTime + 0.02;
  for (const f of pattern) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = f;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.22);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + 0.25);
    t += 0.3;
  }
}

function setSound(on) {
  state.sound.on = on;
  localStorage.setItem('zg.sound', on ? 'on' : 'off');
  if (on && !state.sound.ctx && window.AudioContext) state.sound.ctx = new AudioContext();
  if (on) beep('info');
  updateReminder();
}

/** While a critical alarm is unacknowledged and sound is on, repeat the tone every 30 s. */
function updateReminder() {
  if (state.sound.on && alarmView.critical > 0) {
    if (!state.sound.reminder) state.sound.reminder = setInterval(() => beep('critical'), 30000);
  } else {
    stopReminder();
  }
}

function stopReminder() {
  clearInterval(state.sound.reminder);
  state.sound.reminder = null;
}

// ---------------------------------------------------------------------------------------------
// Auditor: search with keyset paging, export, verification, charts

const FILTER_KEYS = ['person', 'badge', 'zone', 'door', 'verdict', 'reason', 'kind', 'from', 'to'];

async function enterAuditor() {
  document.getElementById('reason-list').replaceChildren(...REASONS.map((r) => el('option', { value: r })));
  await Promise.all([runVerify(), search()]);
}

function readFilter() {
  const f = new FormData($('audit-form'));
  const filter = {};
  for (const k of FILTER_KEYS) {
    let v = String(f.get(k) ?? '').trim();
    if (k === 'from' || k === 'to') v = localInputToIso(v);
    if (v) filter[k] = v;
  }
  return { filter, limit: String(f.get('limit') || '100') };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  return q.toString();
}

async function search(e) {
  e?.preventDefault();
  const { filter, limit } = readFilter();
  state.audit = { filter, limit, cursors: [null], page: 0, next: null };
  $('export-csv').href = `${API}/audit/export?${query({ format: 'csv', ...filter })}`;
  $('export-jsonl').href = `${API}/audit/export?${query({ format: 'jsonl', ...filter })}`;
  loadCharts(filter);
  await loadAuditPage();
}

async function loadAuditPage() {
  const gen = state.generation;
  const a = state.audit;
  const after = a.cursors[a.page];
  $('audit-next').disabled = true;
  $('audit-prev').disabled = true;
  $('audit-summary').textContent = 'searching…';
  let body;
  try {
    body = await api('GET', `/audit?${query({ ...a.filter, limit: a.limit, after })}`);
  } catch (err) {
    if (gen !== state.generation) return;
    $('audit-summary').textContent = '';
    if (err.status !== 401) toast(`Search: ${err.message}`, 'error');
    $('audit-prev').disabled = a.page === 0;
    return;
  }
  if (gen !== state.generation) return;
  const rows = listFrom(body, 'rows');
  a.next = body?.next ?? null;
  $('audit-rows').replaceChildren(...rows.map(auditRow));
  $('audit-summary').textContent = rows.length ? `${rows.length} record${rows.length === 1 ? '' : 's'} on this page` : 'no matching records';
  $('audit-page').textContent = `page ${a.page + 1}`;
  $('audit-next').disabled = !a.next;
  $('audit-prev').disabled = a.page === 0;
}

function auditRow(r) {
  let what = r.event ?? '';
  if (r.kind === 'decision') what = [r.verdict, r.reason].filter(Boolean).join(' ');
  else if (r.kind === 'alarm') what = `${r.alarm ?? r.event ?? ''}${r.severity ? ` [${r.severity}]` : ''}`;
  const door = r.door ? `${r.door}${r.direction ? `/${r.direction}` : ''}` : '';
  return el('tr', { testid: 'audit-row', class: r.verdict === 'deny' || r.kind === 'alarm' ? 'bad' : '', dataset: { seq: String(r.seq ?? ''), kind: r.kind ?? '' } },
    el('td', { class: 'num' }, r.seq ?? ''),
    el('td', { class: 'nowrap' }, fmtTime(r.time ?? r.at)),
    el('td', {}, r.kind ?? ''),
    el('td', {}, what),
    el('td', {}, r.person ?? ''),
    el('td', { class: 'mono' }, r.badge ?? ''),
    el('td', {}, door),
    el('td', {}, r.zone ?? ''),
    el('td', {}, r.source ?? ''),
    el('td', { class: 'detail' }, r.detail ?? ''));
}

function pageStep(delta) {
  const a = state.audit;
  if (delta > 0) {
    if (!a.next) return;
    a.cursors[a.page + 1] = a.next;
    a.page += 1;
  } else {
    if (a.page === 0) return;
    a.page -= 1;
  }
  loadAuditPage();
}

async function runVerify() {
  const gen = state.generation;
  const box = $('verify-status');
  box.dataset.state = 'running';
  $('verify-result').textContent = 'verifying…';
  let v;
  try {
    v = await api('GET', '/audit/verify');
  } catch (err) {
    if (gen !== state.generation) return;
    box.dataset.state = 'error';
    $('verify-result').textContent = `could not verify: ${err.message}`;
    return;
  }
  if (gen !== state.generation) return;
  box.dataset.state = v.ok ? 'ok' : 'broken';
  $('verify-result').textContent = v.ok ? 'intact' : 'NOT INTACT';
  $('verify-records').textContent = v.records_checked ?? '';
  $('verify-last-seq').textContent = v.last_seq ?? '';
  const cp = v.last_checkpoint;
  $('verify-checkpoint').textContent = cp && cp.seq
    ? `seq ${cp.seq}, ${fmtTime(cp.at)}${cp.key_id ? `, key ${cp.key_id}` : ''}`
    : 'none yet';
  $('verify-message').textContent = v.message ?? '';
}

function loadCharts(filter) {
  // Without a range the charts show the last 24 hours.
  const to = filter.to || new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const from = filter.from || new Date(toDate(to).getTime() - 24 * 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const qs = query({ from, to });
  $('chart-entries').src = `${API}/stats/entries.svg?${qs}`;
  $('chart-denials').src = `${API}/stats/denials.svg?${qs}`;
  $('chart-range').textContent = `${fmtTime(from)} – ${fmtTime(to)}`;
}

// ---------------------------------------------------------------------------------------------
// Admin: people, badges, operators

async function enterAdmin() {
  await Promise.all([loadPeople(false), loadBadges(false), loadOperators()]);
}

async function loadPeople(more) {
  const gen = state.generation;
  const after = more ? state.people.next : null;
  const body = await attempt(() => api('GET', `/people?${query({ limit: 100, after })}`), 'Loading people');
  if (!body || gen !== state.generation) return;
  const rows = listFrom(body, 'people');
  state.people.rows = more ? [...state.people.rows, ...rows] : rows;
  state.people.next = body.next ?? null;
  $('people-rows').replaceChildren(...state.people.rows.map((p) => el('tr', { testid: 'person-row', dataset: { personId: p.id ?? p.person ?? '' } },
    el('td', {}, p.id ?? p.person ?? ''), el('td', {}, p.name ?? ''),
    el('td', {}, Array.isArray(p.roles) ? p.roles.join(', ') : (p.roles ?? '')),
    el('td', { class: 'num' }, p.badges ?? ''))));
  $('people-more').hidden = !state.people.next;
  const roles = new Set(state.people.rows.flatMap((p) => (Array.isArray(p.roles) ? p.roles : [])));
  document.getElementById('role-list').replaceChildren(...[...roles].sort().map((r) => el('option', { value: r })));
}

function badgeStatus(b) {
  if (b.revoked || b.status === 'revoked') return 'revoked';
  if (b.status) return String(b.status);
  const now = Date.now();
  const from = toDate(b.valid_from);
  const until = toDate(b.valid_until);
  if (from && from.getTime() > now) return 'not yet valid';
  if (until && until.getTime() < now) return 'expired';
  return 'valid';
}

async function loadBadges(more) {
  const gen = state.generation;
  const after = more ? state.badges.next : null;
  const person = state.badges.person;
  const body = await attempt(() => api('GET', `/badges?${query({ person, limit: 100, after })}`), 'Loading badges');
  if (!body || gen !== state.generation) return;
  const rows = listFrom(body, 'badges');
  state.badges.rows = more ? [...state.badges.rows, ...rows] : rows;
  state.badges.next = body.next ?? null;
  $('badge-rows').replaceChildren(...state.badges.rows.map((b) => {
    const status = badgeStatus(b);
    return el('tr', { testid: 'badge-row', dataset: { uid: b.uid, status } },
      el('td', { class: 'mono' }, b.uid), el('td', {}, b.person ?? ''), el('td', {}, b.kind ?? ''),
      el('td', { testid: 'badge-status', class: status === 'valid' ? '' : 'bad' }, status),
      el('td', { class: 'nowrap' }, fmtTime(b.valid_from)), el('td', { class: 'nowrap' }, fmtTime(b.valid_until)),
      el('td', { class: 'actions' },
        status === 'revoked' ? null : el('button', { type: 'button', class: 'small secondary', testid: 'badge-validity', onclick: () => editValidity(b) }, 'Validity…'),
        status === 'revoked' ? null : el('button', { type: 'button', class: 'small danger', testid: 'badge-revoke', onclick: () => revokeBadge(b) }, 'Revoke…')));
  }));
  $('badges-more').hidden = !state.badges.next;
}

function revokeBadge(b) {
  return openDialog({
    title: `Revoke badge ${b.uid}`,
    text: `The badge of ${b.person ?? 'unknown'} stops opening doors at its next read. This cannot be undone.`,
    caption: 'Reason (required)',
    note: true,
    confirm: 'Revoke',
    danger: true,
    run: async ({ note }) => {
      await api('POST', `/badges/${encodeURIComponent(b.uid)}/revoke`, { reason: note });
      toast(`Badge ${b.uid} revoked.`);
      await loadBadges(false);
    },
  });
}

function editValidity(b) {
  return openDialog({
    title: `Validity of badge ${b.uid}`,
    text: 'Leave a field empty for no limit on that side.',
    validity: true,
    validFrom: isoToLocalInput(b.valid_from),
    validUntil: isoToLocalInput(b.valid_until),
    confirm: 'Save',
    run: async ({ valid_from: from, valid_until: until }) => {
      await api('PATCH', `/badges/${encodeURIComponent(b.uid)}`, { valid_from: from || null, valid_until: until || null });
      toast(`Validity of ${b.uid} saved.`);
      await loadBadges(false);
    },
  });
}

async function loadOperators() {
  const gen = state.generation;
  const body = await attempt(() => api('GET', '/operators'), 'Loading operators');
  if (!body || gen !== state.generation) return;
  $('operator-rows').replaceChildren(...listFrom(body, 'operators').map((o) => {
    const disabled = Boolean(o.disabled) || o.enabled === false || o.status === 'disabled';
    const self = o.name === state.session?.operator;
    const lockedUntil = toDate(o.locked_until);
    const locked = Boolean(o.locked) || (lockedUntil && lockedUntil.getTime() > Date.now());
    const status = disabled ? 'disabled' : (locked ? 'locked out' : 'active');
    return el('tr', { testid: 'operator-row', dataset: { name: o.name, status } },
      el('td', {}, o.name), el('td', {}, o.role ?? ''),
      el('td', { testid: 'operator-status', class: status === 'active' ? '' : 'bad' }, status),
      el('td', { class: 'actions' }, self ? el('span', { class: 'muted' }, 'you') : el('button', {
        type: 'button', class: `small ${disabled ? 'secondary' : 'danger'}`, testid: disabled ? 'operator-enable' : 'operator-disable',
        onclick: () => setOperator(o.name, !disabled),
      }, disabled ? 'Enable' : 'Disable')));
  }));
}

async function setOperator(name, disable) {
  const ok = await attempt(() => api('POST', `/operators/${encodeURIComponent(name)}/${disable ? 'disable' : 'enable'}`), disable ? 'Disabling' : 'Enabling');
  if (ok !== undefined) toast(`${name} ${disable ? 'disabled' : 'enabled'}.`);
  await loadOperators();
}

async function submitForm(e, fn, what) {
  e.preventDefault();
  const form = e.currentTarget;
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    await fn(new FormData(form));
    form.reset();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) toast(`${what}: ${err.message}`, 'error');
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', onLogout);
  for (const ev of ['keydown', 'pointerdown']) document.addEventListener(ev, noteActivity, { passive: true });

  $('sound-toggle').addEventListener('change', (e) => setSound(e.target.checked));
  $('show-acked').addEventListener('change', (e) => {
    localStorage.setItem('zg.showAcked', e.target.checked ? 'yes' : 'no');
    renderAlarms();
  });
  $('lockdown-button').addEventListener('click', () => lockdown(false));
  $('lift-button').addEventListener('click', () => lockdown(true));
  $('muster-refresh').addEventListener('click', () => loadOccupancy());
  $('muster-print').addEventListener('click', async () => {
    await loadOccupancy();
    window.print();
  });

  $('audit-form').addEventListener('submit', search);
  $('audit-form').addEventListener('reset', () => setTimeout(() => search(), 0));
  $('audit-next').addEventListener('click', () => pageStep(1));
  $('audit-prev').addEventListener('click', () => pageStep(-1));
  $('verify-run').addEventListener('click', () => runVerify());
  for (const id of ['chart-entries', 'chart-denials']) {
    $(id).addEventListener('error', (e) => { e.target.dataset.state = 'error'; });
    $(id).addEventListener('load', (e) => { e.target.dataset.state = 'loaded'; });
  }

  $('person-form').addEventListener('submit', (e) => submitForm(e, async (f) => {
    const id = String(f.get('id')).trim();
    const roles = String(f.get('roles') ?? '').split(',').map((r) => r.trim()).filter(Boolean);
    await api('POST', '/people', { id, name: String(f.get('name') ?? '').trim(), roles });
    toast(`Person ${id} saved. Add a badge for them below.`);
    $('badge-person').value = id;
    await loadPeople(false);
  }, 'Adding the person'));
  $('badge-form').addEventListener('submit', (e) => submitForm(e, async (f) => {
    const body = { uid: String(f.get('uid')).trim(), person: String(f.get('person')).trim(), kind: String(f.get('kind')) };
    const from = localInputToIso(String(f.get('valid_from') ?? ''));
    const until = localInputToIso(String(f.get('valid_until') ?? ''));
    if (from) body.valid_from = from;
    if (until) body.valid_until = until;
    await api('POST', '/badges', body);
    toast(`Badge ${body.uid} added for ${body.person}.`);
    await Promise.all([loadBadges(false), loadPeople(false)]);
  }, 'Adding the badge'));
  $('badge-filter').addEventListener('submit', (e) => {
    e.preventDefault();
    state.badges.person = $('badge-filter-person').value.trim();
    loadBadges(false);
  });
  $('people-more').addEventListener('click', () => loadPeople(true));
  $('badges-more').addEventListener('click', () => loadBadges(true));
  $('operator-form').addEventListener('submit', (e) => submitForm(e, async (f) => {
    const name = String(f.get('name')).trim();
    await api('POST', '/operators', { name, role: String(f.get('role')), password: String(f.get('password')) });
    toast(`Operator ${name} added.`);
    await loadOperators();
  }, 'Adding the operator'));
}

async function boot() {
  wire();
  try {
    const s = await api('GET', '/session', undefined, { login: true });
    await startSession(s);
  } catch (e) {
    showLogin(e instanceof ApiError && e.status !== 401 ? e.message : '');
  }
  document.body.dataset.ready = 'true';
}

boot();
