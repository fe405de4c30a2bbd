// SPDX-License-Identifier: Apache-2.0
// Browser tests of the zonegate console against a running zonegated --sim (started by run.sh, which
// passes everything in the environment). A small runner of its own: the tests run in order, each
// failure is reported with its reason, and the last line is `N passed, N failed`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
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

await test('an expired session returns to the login with a message', async () => {
  const { page, context } = guard;
  await context.clearCookies();
  await page.click(tid('muster-refresh'));
  await page.waitForSelector(`${tid('view-login')}:not([hidden])`);
  assert.notEqual((await page.textContent(tid('login-message'))).trim(), '');
  assert.ok(await page.isHidden(tid('view-guard')));
  assert.equal(await page.locator(tid('alarm-item')).count(), 0, 'alarms of the old session are still in the page');
});
await test('guard page had no errors', () => closePage(guard));

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
  await page.waitForSelector(`${tid('audit-row')}[data-kind="alarm"]`);
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

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
