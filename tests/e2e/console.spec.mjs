// SPDX-License-Identifier: Apache-2.0
// Browser tests of the zonegate console against a running zonegated --sim (started by run.sh, which
// passes everything in the environment). A small runner of its own: the tests run in order, each
// failure is reported with its reason, and the last line is `N passed, N failed`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`environment variable ${k} is not set (run tests/e2e/run.sh)`);
  return v;
};
const BASE = env('ZG_BASE_URL');
const CLI = env('ZG_CLI');
const STATE = env('ZG_STATE');
const SHOTS = env('ZG_SCREENSHOTS');
const USERS = {
  guard: { name: env('ZG_GUARD'), password: env('ZG_GUARD_PASSWORD') },
  auditor: { name: env('ZG_AUDITOR'), password: env('ZG_AUDITOR_PASSWORD') },
  admin: { name: env('ZG_ADMIN'), password: env('ZG_ADMIN_PASSWORD') },
};
const STEP_MS = 10000; // the longest any single step may take
const tid = (id) => `[data-testid="${id}"]`;

// ---------------------------------------------------------------------------------------------
// Runner

let passed = 0;
let failed = 0;
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}`);
    for (const line of String(e?.stack ?? e).split('\n').slice(0, 6)) console.log(`  ${line}`);
  }
}

/** `zonegate ARGS... --state-dir STATE`; resolves to stdout, rejects on a non-zero exit. */
async function zonegate(...args) {
  const { stdout } = await run(CLI, [...args, '--state-dir', STATE], { timeout: 20000 });
  return stdout;
}

// ---------------------------------------------------------------------------------------------
// Browser

// The machine has no internet: Chromium's own background connections are switched off.
const browser = await chromium.launch({
  executablePath: env('ZG_CHROMIUM'),
  headless: true,
  args: ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});

/**
 * A fresh browser context (own cookies) and page. The daemon's certificate is self-signed and
 * generated at its first start, so the context accepts it (ignoreHTTPSErrors); nothing else about
 * TLS is relaxed. Every page error and CSP violation is collected and fails the test that saw it.
 */
async function openPage() {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1400, height: 1000 }, colorScheme: 'dark',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.problems = problems;
  return { context, page };
}

async function closePage({ context, page }) {
  const problems = page.problems;
  await context.close();
  assert.deepEqual(problems, [], 'the page reported errors');
}

async function login(page, role) {
  const u = USERS[role];
  await page.goto(BASE + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector(`${tid('view-login')}:not([hidden])`);
  await page.fill(tid('login-name'), u.name);
  await page.fill(tid('login-password'), u.password);
  await page.click(tid('login-submit'));
  await page.waitForSelector(`${tid(`view-${role}`)}:not([hidden])`);
  assert.equal(await page.textContent(tid('whoami')), `${u.name} (${role})`);
}

/** fetch() from inside the page (same origin, the session cookie); returns {status, body}. */
function pageFetch(page, method, path, { body, csrf = true } = {}) {
  return page.evaluate(async ({ method, path, body, csrf }) => {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (csrf) {
      const s = await fetch('/api/v1/session', { credentials: 'same-origin' });
      if (s.ok) headers['X-CSRF-Token'] = (await s.json()).csrf;
    }
    const r = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: json, text };
  }, { method, path, body, csrf });
}

/**
 * The daemon's control socket (docs/daemon.md): one JSON request per line, answered in order after
 * its records are committed. Faster than a `zonegate` process per alarm when a test needs dozens.
 */
async function controlSocket() {
  const sock = connect(join(STATE, 'control.sock'));
  await new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  sock.setEncoding('utf8');
  const waiting = [];
  let buf = '';
  sock.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      waiting.shift()?.(JSON.parse(l));
    }
  });
  return {
    send(req) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`control socket: no answer to ${req.cmd}`)), STEP_MS);
        waiting.push((a) => {
          clearTimeout(timer);
          if (a.ok) resolve(a);
          else reject(new Error(`control socket: ${req.cmd}: ${a.error}`));
        });
        sock.write(`${JSON.stringify(req)}\n`);
      });
    },
    close() { sock.end(); },
  };
}

/**
 * One tamper alarm (severity critical): the cabinet lid opens (answered once the alarm is
 * committed) and closes again. (Not the gate: its signals are 100 ms pulses, and a pulse sent while
 * the previous one is still up is not an edge.)
 */
async function raiseTamperAlarm(ctl) {
  await ctl.send({ cmd: 'sim.tamper', id: 'cabinet-lid', on: true });
  await ctl.send({ cmd: 'sim.tamper', id: 'cabinet-lid', on: false });
}

/** One reader_offline alarm (severity warning): the lobby's inner reader goes offline and back. */
async function raiseReaderAlarm(ctl) {
  await ctl.send({ cmd: 'sim.reader', reader: 'lobby:in', online: false });
  await ctl.send({ cmd: 'sim.reader', reader: 'lobby:in', online: true });
}

/**
 * The order the guard's list must show, computed from the server's alarms: unacknowledged first by
 * severity then newest first, then the 50 newest acknowledged; equal times: the higher id first.
 */
function expectedAlarmOrder(alarms) {
  const rank = { critical: 0, warning: 1, info: 2 };
  const key = (a) => ({ id: String(a.id), acked: Boolean(a.acknowledged), rank: rank[a.severity] ?? 3, t: Date.parse(a.at) || 0 });
  const cmp = (x, y) => (x.acked !== y.acked ? (x.acked ? 1 : -1)
    : !x.acked && x.rank !== y.rank ? x.rank - y.rank
      : x.t !== y.t ? y.t - x.t : Number(y.id) - Number(x.id));
  const keys = alarms.map(key).sort(cmp);
  return [...keys.filter((k) => !k.acked), ...keys.filter((k) => k.acked).slice(0, 50)].map((k) => k.id);
}

/** Waits (bounded) until a request to path has been seen in the list a page.on('request') fills. */
async function expectRequest(list, path) {
  const deadline = Date.now() + STEP_MS;
  while (!list.some((r) => r.path === path)) {
    assert.ok(Date.now() < deadline, `no request to ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The alarm ids in the page's list, top to bottom. */
function pageAlarmIds(page) {
  return page.$$eval(tid('alarm-item'), (els) => els.map((e) => e.dataset.alarmId));
}

async function download(page, testid) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click(tid(testid))]);
  const file = await dl.path();
  assert.ok(file, `${testid}: the download failed (${await dl.failure()})`);
  return { name: dl.suggestedFilename(), text: await readFile(file, 'utf8') };
}

// ---------------------------------------------------------------------------------------------
// Tests

await test('the login page loads with a strict CSP and no errors', async () => {
  const p = await openPage();
  const res = await p.page.goto(BASE + '/');
  assert.equal(res.status(), 200);
  const h = res.headers();
  assert.match(h['content-security-policy'] ?? '', /script-src 'self'/);
  assert.doesNotMatch(h['content-security-policy'] ?? '', /unsafe-inline/);
  assert.equal(h['x-content-type-options'], 'nosniff');
  assert.match(h['strict-transport-security'] ?? '', /max-age=\d+/);
  await p.page.waitForSelector('body[data-ready="true"]');
  assert.ok(await p.page.isVisible(tid('login-form')));
  await p.page.screenshot({ path: join(SHOTS, 'login.png') });
  await closePage(p);
});

await test('a wrong password shows the server\'s message and stays on the login', async () => {
  const p = await openPage();
  await p.page.goto(BASE + '/');
  await p.page.waitForSelector('body[data-ready="true"]');
  await p.page.fill(tid('login-name'), USERS.auditor.name);
  await p.page.fill(tid('login-password'), 'not the password');
  await p.page.click(tid('login-submit'));
  await p.page.waitForFunction((sel) => document.querySelector(sel).textContent.trim() !== '', tid('login-message'));
  assert.ok(await p.page.isVisible(tid('view-login')));
  assert.ok(await p.page.isHidden(tid('view-auditor')));
  await closePage(p);
});

// Put someone on the muster list, so the guard view shows an occupied zone.
await zonegate('sim', 'tap', 'gus', 'lobby', 'in');
await zonegate('sim', 'door', 'lobby', 'open');
await zonegate('sim', 'door', 'lobby', 'closed');

const guard = await openPage();
let screeningAlarmId = null;
await test('guard: a screening alarm raised by the simulator appears without reload', async () => {
  const { page } = guard;
  await login(page, 'guard');
  await page.waitForSelector(`${tid('live-status')}[data-state="on"]`);
  await page.evaluate(() => { window.zgNoReload = 'still here'; });
  const before = await page.$$eval(`${tid('alarm-item')}`, (els) => els.map((e) => e.dataset.alarmId));
  await zonegate('sim', 'gate', 'view-gate', 'alarm');
  const handle = await page.waitForFunction((known) => {
    const items = [...document.querySelectorAll('[data-testid="alarm-item"][data-kind="screening_alarm"]')];
    const fresh = items.find((e) => !known.includes(e.dataset.alarmId));
    return fresh ? fresh.dataset.alarmId : null;
  }, before, { timeout: 5000 });
  screeningAlarmId = await handle.jsonValue();
  assert.equal(await page.evaluate(() => window.zgNoReload), 'still here', 'the page was reloaded');
  const item = page.locator(`${tid('alarm-item')}[data-alarm-id="${screeningAlarmId}"]`);
  assert.equal(await item.getAttribute('data-acknowledged'), 'false');
  assert.match(await item.locator(tid('alarm-severity')).textContent(), /CRITICAL|WARNING|INFO/);
  // The muster list shows gus in the office.
  await page.waitForSelector(`${tid('muster-zone')}[data-zone-id="office"] ${tid('muster-person')}[data-person="gus"]`);
  await page.screenshot({ path: join(SHOTS, 'guard.png'), fullPage: true });
});

await test('guard: acknowledging needs a note, and the note is kept', async () => {
  assert.ok(screeningAlarmId, 'no alarm from the previous test');
  const { page } = guard;
  const item = page.locator(`${tid('alarm-item')}[data-alarm-id="${screeningAlarmId}"]`);
  await item.locator(tid('alarm-ack')).click();
  await page.waitForSelector(`${tid('action-dialog')}[open]`);
  await page.click(tid('action-confirm')); // empty note: refused in the page, the dialog stays
  assert.ok(await page.isVisible(`${tid('action-dialog')}[open]`));
  assert.equal(await item.getAttribute('data-acknowledged'), 'false');
  const note = 'e2e: gate checked by hand, nothing found';
  await page.fill(tid('action-note'), note);
  await page.click(tid('action-confirm'));
  await page.waitForSelector(`${tid('alarm-item')}[data-alarm-id="${screeningAlarmId}"][data-acknowledged="true"]`);
  assert.ok(!(await page.isVisible(`${tid('action-dialog')}[open]`)));
  assert.match(await item.locator(tid('alarm-ack-info')).textContent(), /gate checked by hand/);
  // The server agrees (not only the page).
  const r = await pageFetch(page, 'GET', '/api/v1/alarms', { csrf: false });
  assert.equal(r.status, 200);
  const a = r.body.alarms.find((x) => String(x.id) === screeningAlarmId);
  assert.ok(a?.acknowledged, 'the server does not show the alarm acknowledged');
  assert.equal(a.ack_note, note);
});

await test('guard: the muster list prints alone', async () => {
  const { page } = guard;
  await page.emulateMedia({ media: 'print' });
  try {
    assert.ok(await page.isVisible(tid('muster-zones')));
    assert.ok(await page.isHidden(tid('alarm-list')));
    assert.ok(await page.isHidden(tid('door-table')));
  } finally {
    await page.emulateMedia({ media: 'screen' });
  }
});

await test('guard: a state change without the CSRF token is refused (403 csrf)', async () => {
  const r = await pageFetch(guard.page, 'POST', `/api/v1/alarms/${screeningAlarmId ?? 1}/ack`, { body: { note: 'x' }, csrf: false });
  assert.equal(r.status, 403);
  assert.equal(r.body?.error, 'csrf');
});

await test('guard cannot export: 403 and an operator audit record', async () => {
  const r = await pageFetch(guard.page, 'GET', '/api/v1/audit/export?format=csv', { csrf: false });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.body?.error, 'forbidden');
  assert.ok(r.body?.message, 'a 403 carries a message');
  const out = await zonegate('audit', 'query', '--kind', 'operator', '--limit', '1000');
  const lines = out.split('\n').filter((l) => l.includes(USERS.guard.name) && /export/.test(l) && /denied|forbidden/.test(l));
  assert.ok(lines.length >= 1, `no denial record of ${USERS.guard.name} for the export route in:\n${out}`);
});

await test('guard: with 50+ alarms on the page, a new alarm and an acknowledgement touch only their own element', async () => {
  const { page } = guard;
  const apiRequests = [];
  const onRequest = (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/v1/')) apiRequests.push({ path: u.pathname, method: r.method(), background: r.headers()['x-zonegate-background'] });
  };
  page.on('request', onRequest);
  const ctl = await controlSocket();
  try {
    const before = (await pageFetch(page, 'GET', '/api/v1/alarms', { csrf: false })).body.alarms.length;
    // Mostly critical alarms, and a few warnings among them, so that the order has two groups.
    for (let i = 0; i < 55; i += 1) await (i % 20 === 5 ? raiseReaderAlarm(ctl) : raiseTamperAlarm(ctl));
    const server = (await pageFetch(page, 'GET', '/api/v1/alarms', { csrf: false })).body.alarms;
    assert.ok(server.length >= before + 55, `the simulator raised ${server.length - before} alarms, not 55`);
    assert.ok(server.some((a) => a.severity === 'warning' && !a.acknowledged), 'no unacknowledged warning among the alarms');
    const open = server.filter((a) => !a.acknowledged).length;
    assert.ok(open >= 55, `only ${open} unacknowledged alarms`);
    await page.waitForFunction((n) => document.querySelector('[data-testid="alarm-count"]').textContent === `${n} unacknowledged`, open);
    assert.deepEqual(await pageAlarmIds(page), expectedAlarmOrder(server), 'the list is not in the expected order');

    // From here on, every element that is added to or removed from the list is recorded, and each
    // element now on the page is tagged, to find out afterwards which ones were rebuilt.
    await page.evaluate(() => {
      const list = document.querySelector('[data-testid="alarm-list"]');
      for (const e of list.children) e.zgOld = true;
      window.zgChanges = [];
      window.zgObserver = new MutationObserver((recs) => {
        for (const r of recs) {
          for (const n of r.addedNodes) window.zgChanges.push({ op: 'add', id: n.dataset?.alarmId ?? '?' });
          for (const n of r.removedNodes) window.zgChanges.push({ op: 'remove', id: n.dataset?.alarmId ?? '?' });
        }
      });
      window.zgObserver.observe(list, { childList: true });
    });
    // The alarms not in `except` whose elements were built after the tagging.
    const rebuilt = async (except) => page.$$eval(tid('alarm-item'), (els, x) => els.filter((e) => !x.includes(e.dataset.alarmId) && !e.zgOld).map((e) => e.dataset.alarmId), except);
    const takeChanges = () => page.evaluate(() => window.zgChanges.splice(0));
    const known = new Set(server.map((a) => String(a.id)));
    /** Raises one alarm; checks that exactly its element was added, in its place; returns its id. */
    const oneMore = async (raise, severity, unacked) => {
      await raise(ctl);
      const id = await (await page.waitForFunction((k) => {
        const e = [...document.querySelectorAll('[data-testid="alarm-item"]')].find((x) => !k.includes(x.dataset.alarmId));
        return e ? e.dataset.alarmId : null;
      }, [...known])).jsonValue();
      known.add(id);
      await page.waitForFunction((n) => document.querySelector('[data-testid="alarm-count"]').textContent === `${n} unacknowledged`, unacked);
      assert.deepEqual(await takeChanges(), [{ op: 'add', id }]);
      assert.match(await page.getAttribute(`${tid('alarm-item')}[data-alarm-id="${id}"]`, 'class'), /\bnew\b/);
      assert.equal(await page.getAttribute(`${tid('alarm-item')}[data-alarm-id="${id}"]`, 'data-severity'), severity);
      const now = (await pageFetch(page, 'GET', '/api/v1/alarms', { csrf: false })).body.alarms;
      assert.deepEqual(await pageAlarmIds(page), expectedAlarmOrder(now), `alarm ${id} is not in its place`);
      assert.equal(await page.title(), `(${unacked}) zonegate console`);
      return id;
    };

    // One more critical alarm (on top) and one more warning (after every critical one): each adds
    // one element, in its place, and nothing else is rebuilt; only the newest is marked new.
    const critId = await oneMore(raiseTamperAlarm, 'critical', open + 1);
    const warnId = await oneMore(raiseReaderAlarm, 'warning', open + 2);
    const ids0 = await pageAlarmIds(page);
    assert.equal(ids0[0], critId, 'the newest critical alarm is not on top');
    assert.ok(ids0.indexOf(warnId) > 0, 'the new warning is on top, above critical alarms');
    assert.doesNotMatch(await page.getAttribute(`${tid('alarm-item')}[data-alarm-id="${critId}"]`, 'class'), /\bnew\b/);
    assert.deepEqual(await rebuilt([critId, warnId]), [], 'elements of other alarms were rebuilt');

    // Acknowledge one from the middle of the list through the dialog: only its element changes
    // (removed, and inserted again among the acknowledged), and the count goes down by one.
    const ids = await pageAlarmIds(page);
    const victim = ids[20];
    const item = page.locator(`${tid('alarm-item')}[data-alarm-id="${victim}"]`);
    assert.equal(await item.getAttribute('data-acknowledged'), 'false');
    await item.locator(tid('alarm-ack')).click();
    await page.fill(tid('action-note'), 'e2e: one of many, checked');
    await page.click(tid('action-confirm'));
    await page.waitForSelector(`${tid('alarm-item')}[data-alarm-id="${victim}"][data-acknowledged="true"]`);
    await page.waitForFunction((n) => document.querySelector('[data-testid="alarm-count"]').textContent === `${n} unacknowledged`, open + 1);
    const changes = await takeChanges();
    assert.ok(changes.length >= 2 && changes.every((c) => c.id === victim), `changes beyond alarm ${victim}: ${JSON.stringify(changes)}`);
    assert.deepEqual(await rebuilt([critId, warnId, victim]), [], 'elements of other alarms were rebuilt');
    assert.match(await page.locator(`${tid('alarm-item')}[data-alarm-id="${victim}"] ${tid('alarm-ack-info')}`).textContent(), /one of many/);
    const now = (await pageFetch(page, 'GET', '/api/v1/alarms', { csrf: false })).body.alarms;
    assert.equal(now.filter((a) => !a.acknowledged).length, open + 1);
    assert.deepEqual(await pageAlarmIds(page), expectedAlarmOrder(now), 'the acknowledged alarm is not in its place');

    // The page's own refetches after pushes (doors after every alarm) are marked as background;
    // what the operator asks for is not.
    const doors = apiRequests.filter((r) => r.path === '/api/v1/doors');
    assert.ok(doors.length >= 1, 'no door refetch after 57 alarms');
    assert.ok(doors.every((r) => r.background === '1'), `door refetches without the background header: ${JSON.stringify(doors)}`);
    const ack = apiRequests.find((r) => r.path === `/api/v1/alarms/${victim}/ack`);
    assert.equal(ack?.background, undefined, 'the acknowledgement is marked as background');
    apiRequests.length = 0;
    await page.click(tid('muster-refresh'));
    await expectRequest(apiRequests, '/api/v1/occupancy');
    assert.equal(apiRequests.find((r) => r.path === '/api/v1/occupancy').background, undefined, 'a refresh click is marked as background');
    assert.deepEqual(await rebuilt([critId, warnId, victim]), [], 'a muster refresh rebuilt alarm elements');
  } finally {
    ctl.close();
    page.off('request', onRequest);
    await page.evaluate(() => window.zgObserver?.disconnect());
  }
});

await test('an expired session returns to the login with a message', async () => {
  const { page, context } = guard;
  await context.clearCookies();
  // The operator's next request finds the session gone; a background refetch (a door hint after
  // the alarms of the test before) may find it first, and the page is at the login already.
  if (await page.isVisible(tid('muster-refresh'))) await page.click(tid('muster-refresh')).catch(() => {});
  await page.waitForSelector(`${tid('view-login')}:not([hidden])`);
  assert.notEqual((await page.textContent(tid('login-message'))).trim(), '');
  assert.ok(await page.isHidden(tid('view-guard')));
  assert.equal(await page.locator(tid('alarm-item')).count(), 0, 'alarms of the old session are still in the page');
});
await test('guard page had no errors', () => closePage(guard));

await test('guard: a logout elsewhere closes the live socket and the page returns to the login by itself', async () => {
  const p = await openPage();
  const { page, context } = p;
  await login(page, 'guard');
  await page.waitForSelector(`${tid('live-status')}[data-state="on"]`);
  await page.waitForSelector(tid('alarm-item'));
  // The same session logged out from outside the page (its cookie, through the API).
  const s = await context.request.get(`${BASE}/api/v1/session`);
  assert.equal(s.status(), 200);
  const del = await context.request.delete(`${BASE}/api/v1/session`, { headers: { 'X-CSRF-Token': (await s.json()).csrf } });
  assert.equal(del.status(), 204);
  // No click, no reload: the closed socket alone must bring the login back.
  await page.waitForSelector(`${tid('view-login')}:not([hidden])`);
  assert.match(await page.textContent(tid('login-message')), /session has expired/i);
  assert.ok(await page.isHidden(tid('view-guard')));
  assert.equal(await page.locator(tid('alarm-item')).count(), 0, 'alarms of the old session are still in the page');
  await closePage(p);
});

await test('guard: disabling the operator from the CLI ends the open page\'s session', async () => {
  const p = await openPage();
  const { page } = p;
  await login(page, 'guard');
  await page.waitForSelector(`${tid('live-status')}[data-state="on"]`);
  await zonegate('operator', 'disable', USERS.guard.name);
  try {
    // The server notices within 2 s and closes the socket; the page asks and gets 401.
    await page.waitForSelector(`${tid('view-login')}:not([hidden])`);
    assert.notEqual((await page.textContent(tid('login-message'))).trim(), '');
    assert.ok(await page.isHidden(tid('view-guard')));
  } finally {
    await zonegate('operator', 'enable', USERS.guard.name);
  }
  await closePage(p);
});

const auditor = await openPage();
await test('auditor: verification status with the last signed checkpoint', async () => {
  const { page } = auditor;
  await login(page, 'auditor');
  await page.waitForSelector(`${tid('verify-status')}[data-state="ok"]`);
  assert.match(await page.textContent(tid('verify-result')), /intact/);
  assert.match(await page.textContent(tid('verify-last-seq')), /^\d+$/);
  assert.notEqual((await page.textContent(tid('verify-checkpoint'))).trim(), '');
});

await test('auditor: search by kind and decision, page with the cursor', async () => {
  const { page } = auditor;
  await page.selectOption(tid('audit-kind'), 'alarm');
  await page.click(tid('audit-search'));
  // The unfiltered first page may hold alarm rows too (the guard tests raise dozens): wait for
  // the filtered answer, not for any alarm row.
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
    return rows.length > 0 && rows.every((e) => e.dataset.kind === 'alarm');
  });
  const kinds = await page.$$eval(tid('audit-row'), (els) => els.map((e) => e.dataset.kind));
  assert.ok(kinds.length >= 1 && kinds.every((k) => k === 'alarm'), `kinds: ${kinds}`);
  assert.match(await page.textContent(tid('audit-rows')), /view-gate/);

  // Paging: 10 a page over everything; page 2 continues after page 1; back gives page 1 again.
  await page.selectOption(tid('audit-kind'), '');
  await page.selectOption(tid('audit-limit'), '10');
  await page.click(tid('audit-search'));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-row"]').length === 10);
  const seqs = async () => page.$$eval(tid('audit-row'), (els) => els.map((e) => Number(e.dataset.seq)));
  const first = await seqs();
  assert.ok(await page.isEnabled(tid('audit-next')), 'more than 10 records exist, next page must be enabled');
  await page.click(tid('audit-next'));
  await page.waitForFunction((top) => {
    const r = document.querySelector('[data-testid="audit-row"]');
    return r && Number(r.dataset.seq) !== top;
  }, first[0]);
  const second = await seqs();
  assert.ok(Math.min(...second) > Math.max(...first), `page 2 ${second} does not follow page 1 ${first}`);
  await page.click(tid('audit-prev'));
  await page.waitForFunction((top) => Number(document.querySelector('[data-testid="audit-row"]')?.dataset.seq) === top, first[0]);
  assert.deepEqual(await seqs(), first);
  await page.selectOption(tid('audit-limit'), '100');
});

await test('auditor: CSV and JSON Lines exports of the current filter download', async () => {
  const { page } = auditor;
  await page.selectOption(tid('audit-kind'), 'alarm');
  await page.click(tid('audit-search'));
  await page.waitForSelector(`${tid('audit-row')}[data-kind="alarm"]`);
  const csv = await download(page, 'export-csv');
  const lines = csv.text.split(/\r?\n/).filter((l) => l !== '');
  assert.match(lines[0], /^seq,time,kind,/, `CSV header: ${lines[0]}`);
  assert.ok(lines.length >= 2, 'the CSV has no record');
  assert.ok(lines.slice(1).every((l) => l.split(',')[2] === 'alarm'), 'the CSV ignores the kind filter');
  const jsonl = await download(page, 'export-jsonl');
  const recs = jsonl.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
  assert.ok(recs.length >= 1);
  assert.ok(recs.every((r) => r.kind === 'alarm'), 'the JSON Lines export ignores the kind filter');
  const out = await zonegate('audit', 'query', '--kind', 'export', '--limit', '1000');
  assert.ok(out.includes(USERS.auditor.name), `the export is not audited:\n${out}`);
});

await test('auditor: both server-side charts load as images', async () => {
  const { page } = auditor;
  for (const id of ['chart-entries', 'chart-denials']) {
    await page.waitForSelector(`${tid(id)}[data-state]`);
    assert.equal(await page.getAttribute(tid(id), 'data-state'), 'loaded', `${id} did not load`);
    assert.ok(await page.$eval(tid(id), (img) => img.naturalWidth > 0), `${id} is empty`);
  }
  await page.screenshot({ path: join(SHOTS, 'auditor.png'), fullPage: true });
});

await test('auditor cannot unlock a door: 403 and an operator audit record', async () => {
  const r = await pageFetch(auditor.page, 'POST', '/api/v1/doors/lobby/unlock', { body: { reason: 'e2e: must be refused' } });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.body?.error, 'forbidden', 'refused for the role, with a valid CSRF token');
  const out = await zonegate('audit', 'query', '--kind', 'operator', '--limit', '1000');
  const lines = out.split('\n').filter((l) => l.includes(USERS.auditor.name) && /unlock/.test(l) && /denied|forbidden/.test(l));
  assert.ok(lines.length >= 1, `no denial record of ${USERS.auditor.name} for unlock in:\n${out}`);
  // And the door was not unlocked by it: no unlock record naming the auditor as the actor.
  const all = await zonegate('audit', 'query', '--door', 'lobby', '--limit', '1000');
  assert.ok(!all.split('\n').some((l) => l.includes(USERS.auditor.name) && /unlocked|granted/.test(l)));
});

await test('logout ends the session on the server', async () => {
  const { page } = auditor;
  await page.click(tid('logout'));
  await page.waitForSelector(`${tid('view-login')}:not([hidden])`);
  const r = await pageFetch(page, 'GET', '/api/v1/session', { csrf: false });
  assert.equal(r.status, 401);
});
await test('auditor page had no errors', () => closePage(auditor));

const admin = await openPage();
await test('admin: adds a person and a badge, then revokes the badge', async () => {
  const { page } = admin;
  await login(page, 'admin');
  await page.waitForSelector(`${tid('operator-row')}[data-name="${USERS.guard.name}"]`);
  await page.fill(tid('person-id'), 'e2e-visitor');
  await page.fill(tid('person-name'), 'E2E Visitor');
  await page.fill(tid('person-roles'), 'employee');
  await page.click(tid('person-add'));
  await page.waitForSelector(`${tid('toast')}:has-text("e2e-visitor")`);
  assert.equal(await page.locator(tid('error')).count(), 0, 'adding the person failed');

  await page.fill(tid('badge-uid'), '04:e2:e0:01');
  await page.fill(tid('badge-person'), 'e2e-visitor');
  await page.selectOption(tid('badge-kind'), 'uid');
  await page.fill(tid('badge-valid-until'), '2030-12-31T18:00');
  await page.click(tid('badge-add'));
  const row = page.locator(`${tid('badge-row')}[data-uid="04E2E001"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /e2e-visitor/);
  assert.match(await row.textContent(), /2030-12-31/);
  // People are listed through their badges: the new person appears now.
  await page.waitForSelector(`${tid('person-row')}[data-person-id="e2e-visitor"]`);
  const listed = await zonegate('badge', 'list', '--person', 'e2e-visitor');
  assert.match(listed, /04E2E001/);
  await page.screenshot({ path: join(SHOTS, 'admin.png'), fullPage: true });

  await row.locator(tid('badge-revoke')).click();
  await page.fill(tid('action-note'), 'e2e: lost card');
  await page.click(tid('action-confirm'));
  await page.waitForSelector(`${tid('badge-row')}[data-uid="04E2E001"][data-status="revoked"]`);
});

await test('admin: a duplicate badge shows the server\'s message', async () => {
  const { page } = admin;
  const before = await page.locator(tid('error')).count();
  await page.fill(tid('badge-uid'), '04:e2:e0:01');
  await page.fill(tid('badge-person'), 'e2e-visitor');
  await page.click(tid('badge-add'));
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="error"]').length > n, before);
  assert.notEqual((await page.locator(tid('error')).last().textContent()).trim(), '');
});
await test('admin page had no errors', () => closePage(admin));

await test('guard: the list kept one alarm at a time equals a sort of all alarms (mocked server, random pushes)', async () => {
  // The page against a stand-in server (its own files, canned JSON, a scripted live socket), so that
  // alarms can arrive with any severity, time and acknowledgement in any order.
  const assets = new URL('../../daemon/web/console/', import.meta.url);
  const MOCK = 'https://zg.test';
  let seed = 20261128;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const severities = ['critical', 'warning', 'info'];
  const base = Date.UTC(2026, 10, 28);
  const alarms = new Map();
  let nextId = 1;
  // Ten distinct times only, so that equal times (the id decides) are common.
  const at = () => new Date(base + rnd(10) * 1000).toISOString();
  const make = () => {
    const id = nextId++;
    return { id, kind: 'screening_alarm', severity: severities[rnd(3)], source: 'view-gate', person: '', detail: `#${id}`, at: at(), acknowledged: rnd(5) === 0, ack_by: '', ack_note: '' };
  };
  for (let i = 0; i < 80; i += 1) { const a = make(); alarms.set(a.id, a); }
  const p = await openPage();
  const { page } = p;
  await page.route(`${MOCK}/**`, async (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === '/api/v1/session') return route.fulfill({ json: { operator: 'mock-guard', role: 'guard', csrf: 'x', idle_timeout_s: 900 } });
    if (path === '/api/v1/alarms') return route.fulfill({ json: { alarms: [...alarms.values()].reverse() } });
    if (path === '/api/v1/doors') return route.fulfill({ json: { doors: [], fire: false } });
    if (path === '/api/v1/occupancy') return route.fulfill({ json: { zones: [], outside: [] } });
    const file = path === '/' ? 'index.html' : path.slice(1);
    if (!/^[a-z]+\.(html|js|css|svg)$/.test(file)) return route.fulfill({ status: 404 });
    const type = { html: 'text/html', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml' }[file.split('.')[1]];
    return route.fulfill({ body: await readFile(new URL(file, assets)), contentType: type });
  });
  let live = null;
  await page.routeWebSocket(/\/api\/v1\/live$/, (ws) => {
    live = ws;
    ws.send(JSON.stringify({ type: 'hello', operator: 'mock-guard', role: 'guard' }));
  });
  await page.goto(`${MOCK}/`);
  await page.waitForSelector(`${tid('live-status')}[data-state="on"]`);
  const check = async (step) => {
    const shown = expectedAlarmOrder([...alarms.values()]);
    const showAcked = await page.isChecked(tid('show-acked'));
    const want = showAcked ? shown : shown.filter((id) => !alarms.get(Number(id)).acknowledged);
    // The page handles a pushed message before it answers the next evaluate; wait for it anyway.
    await page.waitForFunction((w) => [...document.querySelectorAll('[data-testid="alarm-item"]')].map((e) => e.dataset.alarmId).join() === w, want.join(), { timeout: 2000 })
      .catch(() => {});
    assert.deepEqual(await pageAlarmIds(page), want, `after step ${step}`);
    const open = [...alarms.values()].filter((a) => !a.acknowledged).length;
    assert.equal(await page.textContent(tid('alarm-count')), open ? `${open} unacknowledged` : '', `count after step ${step}`);
    assert.equal(await page.isHidden(tid('alarm-empty')), want.length > 0, `"no alarms" after step ${step}`);
  };
  await check('load');
  for (let step = 0; step < 150; step += 1) {
    const r = rnd(20);
    if (r < 10) {
      const a = make();
      alarms.set(a.id, a);
      live.send(JSON.stringify({ type: 'alarm', alarm: a }));
    } else if (r < 16) {
      const open = [...alarms.values()].filter((a) => !a.acknowledged);
      if (open.length === 0) continue;
      const a = open[rnd(open.length)];
      Object.assign(a, { acknowledged: true, ack_by: 'other-guard', ack_note: 'checked' });
      live.send(JSON.stringify({ type: 'alarm_ack', id: a.id, ack_by: a.ack_by, ack_note: a.ack_note }));
    } else if (r < 19) {
      // An update of a known alarm that moves it (another time, another severity).
      const all = [...alarms.values()];
      const a = all[rnd(all.length)];
      Object.assign(a, { at: at(), severity: severities[rnd(3)] });
      live.send(JSON.stringify({ type: 'alarm', alarm: a }));
    } else {
      await page.click(tid('show-acked'));
    }
    await check(step);
  }
  assert.ok([...alarms.values()].filter((a) => a.acknowledged).length > 50, 'the run never had more than 50 acknowledged alarms');
  await closePage(p);
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
