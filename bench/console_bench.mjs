// SPDX-License-Identifier: Apache-2.0
// Console benchmarks against a running zonegated (started by bench/console_bench.sh, which passes
// everything in the environment):
//   alarm — alarm event -> the alarm's element in the guard's page (headless Chromium)
//   audit — GET /api/v1/audit pages (first page and cursor pages) as an auditor over HTTPS
// Usage: node console_bench.mjs alarm|audit
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`environment variable ${k} is not set (run bench/console_bench.sh)`);
  return v;
};
const BASE = env('ZG_BASE_URL');
const tid = (id) => `[data-testid="${id}"]`;

/** Milliseconds since the Unix epoch with sub-millisecond resolution (monotonic within a process). */
const nowMs = () => performance.timeOrigin + performance.now();

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { n: s.length, min: s[0], p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}
const fmt = (x) => x.toFixed(2);
const line = (label, st) =>
  console.log(`${label}: n=${st.n} min ${fmt(st.min)} ms, p50 ${fmt(st.p50)} ms, p99 ${fmt(st.p99)} ms, max ${fmt(st.max)} ms`);

// ---------------------------------------------------------------------------------------------
// The control socket: one JSON object per line each way (docs/daemon.md).

class Control {
  constructor(path) {
    this.path = path;
    this.waiting = [];
    this.buf = '';
  }

  open() {
    return new Promise((resolve, reject) => {
      this.sock = connect(this.path, () => resolve());
      this.sock.once('error', reject);
      this.sock.setEncoding('utf8');
      this.sock.on('data', (d) => {
        this.buf += d;
        let i;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          const l = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 1);
          this.waiting.shift()?.resolve(JSON.parse(l));
        }
      });
    });
  }

  /** Sends one request; `onSent(t)` gets the clock read just before the write. */
  send(req, onSent = () => {}) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`control socket: no answer to ${req.cmd} in 10 s`)), 10000);
      this.waiting.push({ resolve: (a) => { clearTimeout(timer); resolve(a); } });
      const text = JSON.stringify(req) + '\n';
      onSent(nowMs());
      this.sock.write(text);
    });
  }

  close() { this.sock?.end(); }
}

// ---------------------------------------------------------------------------------------------
// Part 1: alarm -> element in the page

async function alarmBench() {
  // playwright-core as installed for the e2e tests (ES modules ignore NODE_PATH, so it is required
  // relative to that folder).
  const { chromium } = createRequire(join(env('ZG_E2E_DIR'), 'package.json'))('playwright-core');
  const N = Number(process.env.ZG_ALARMS ?? '200');
  const ACK = process.env.ZG_ACK !== 'no';
  const browser = await chromium.launch({
    executablePath: env('ZG_CHROMIUM'),
    headless: true,
    args: ['--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    // Before the page's own script: every WebSocket gets a first 'message' listener that notes when
    // each pushed alarm reached the page, so that the page's own share (push received -> element in
    // the DOM) can be told apart from the daemon's and the network's.
    await page.addInitScript(() => {
      const Base = window.WebSocket;
      window.zgPushAt = new Map();
      window.WebSocket = class extends Base {
        constructor(...args) {
          super(...args);
          this.addEventListener('message', (ev) => {
            const t = performance.timeOrigin + performance.now();
            try {
              const m = JSON.parse(ev.data);
              if (m.type === 'alarm' && m.alarm && !window.zgPushAt.has(String(m.alarm.id))) window.zgPushAt.set(String(m.alarm.id), t);
            } catch { /* not JSON */ }
          });
        }
      };
    });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(BASE + '/');
    await page.waitForSelector('body[data-ready="true"]');
    await page.fill(tid('login-name'), env('ZG_GUARD'));
    await page.fill(tid('login-password'), env('ZG_GUARD_PASSWORD'));
    await page.click(tid('login-submit'));
    await page.waitForSelector(`${tid('view-guard')}:not([hidden])`);
    await page.waitForSelector(`${tid('live-status')}[data-state="on"]`);

    // In the page: the first time an alarm id shows up as an element, record the page's clock at
    // the mutation callback (the DOM has it) and at the next animation frame (it is painted then).
    await page.evaluate(() => {
      const now = () => performance.timeOrigin + performance.now();
      const seen = new Map();
      for (const e of document.querySelectorAll('[data-testid="alarm-item"]')) seen.set(e.dataset.alarmId, null);
      window.zgSeen = seen;
      const list = document.querySelector('[data-testid="alarm-list"]');
      // Elements added directly to the list (how much of it a push rebuilt).
      window.zgAdded = 0;
      const obs = new MutationObserver((recs) => {
        const t = now();
        for (const r of recs) if (r.target === list) window.zgAdded += r.addedNodes.length;
        for (const e of document.querySelectorAll('[data-testid="alarm-item"]')) {
          const id = e.dataset.alarmId;
          if (seen.has(id)) continue;
          const rec = { dom: t, frame: null, kind: e.dataset.kind };
          seen.set(id, rec);
          requestAnimationFrame(() => { rec.frame = now(); });
        }
      });
      // (The whole body, as in the earlier runs, so that the figures stay comparable.)
      obs.observe(document.body, { childList: true, subtree: true });
    });

    // Clock offset page - node: both clocks are performance.timeOrigin + performance.now(), i.e. the
    // same system clock read at each process's start plus a monotonic clock. They can still differ
    // (clock steps or slews between the two origins), so the offset is measured by round trips:
    // offset = page clock - midpoint of the node clocks around it, taken from the round trip with the
    // smallest time; its error is at most half that round trip.
    const calibrate = async () => {
      let best = null;
      for (let i = 0; i < 30; i += 1) {
        const a = nowMs();
        const p = await page.evaluate(() => performance.timeOrigin + performance.now());
        const b = nowMs();
        if (!best || b - a < best.rtt) best = { rtt: b - a, offset: p - (a + b) / 2 };
      }
      return best;
    };
    const cal0 = await calibrate();

    const ctl = new Control(env('ZG_CONTROL'));
    await ctl.open();
    const GATE = process.env.ZG_GATE ?? 'view-gate';
    const lat = [];
    const frame = [];
    const answer = [];
    const added = [];
    const inPage = [];
    const inPageFrame = [];
    let ackNote = 0;
    for (let i = 0; i < N; i += 1) {
      const { known, added0 } = await page.evaluate(() => ({ known: [...window.zgSeen.keys()], added0: window.zgAdded }));
      let sent = 0;
      const a = await ctl.send({ cmd: 'sim.gate', gate: GATE, signal: 'alarm' }, (t) => { sent = t; });
      const answered = nowMs();
      if (!a.ok) throw new Error(`sim.gate: ${a.error}`);
      // Wait for the new element (polled from node, the time itself comes from the observer).
      const h = await page.waitForFunction((k) => {
        for (const [id, rec] of window.zgSeen) {
          if (!k.includes(id) && rec && rec.kind === 'screening_alarm' && rec.frame !== null) return { id, ...rec, push: window.zgPushAt.get(id) ?? null };
        }
        return null;
      }, known, { timeout: 5000, polling: 20 });
      const rec = await h.jsonValue();
      added.push((await page.evaluate(() => window.zgAdded)) - added0);
      if (rec.push !== null) {
        inPage.push(rec.dom - rec.push);
        inPageFrame.push(rec.frame - rec.push);
      }
      const off = cal0.offset;
      lat.push(rec.dom - off - sent);
      frame.push(rec.frame - off - sent);
      answer.push(answered - sent);
      if (ACK) {
        // As a guard would: acknowledge through the console (the page gets the push and re-renders).
        ackNote += 1;
        const r = await page.evaluate(async ({ id, note }) => {
          const s = await fetch('/api/v1/session');
          const csrf = (await s.json()).csrf;
          const x = await fetch(`/api/v1/alarms/${id}/ack`, {
            method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ note }),
          });
          return x.status;
        }, { id: rec.id, note: `bench ${ackNote}` });
        if (r !== 200) throw new Error(`ack ${rec.id}: HTTP ${r}`);
      }
      // The gate's line goes back to clear, so the next alarm is a new edge, and the page is
      // left idle for a moment as between real alarms.
      const c = await ctl.send({ cmd: 'sim.gate', gate: GATE, signal: 'clear' });
      if (!c.ok) throw new Error(`sim.gate clear: ${c.error}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const cal1 = await calibrate();
    ctl.close();
    const items = await page.locator(tid('alarm-item')).count();
    console.log(`alarms: ${N}, acknowledged each: ${ACK ? 'yes' : 'no'}, alarm items in the page at the end: ${items}`);
    console.log(`clock offset page-node: ${fmt(cal0.offset)} ms (rtt ${fmt(cal0.rtt)} ms) before, ${fmt(cal1.offset)} ms (rtt ${fmt(cal1.rtt)} ms) after`);
    line('send -> element in the DOM (MutationObserver)', summary(lat));
    line('send -> next animation frame', summary(frame));
    line('send -> control socket answer (committed)', summary(answer));
    if (inPage.length) {
      line('push received in the page -> element in the DOM', summary(inPage));
      line('push received in the page -> next animation frame', summary(inPageFrame));
    }
    const addedStats = summary(added);
    console.log(`alarm-list elements added per alarm push: p50 ${addedStats.p50}, max ${addedStats.max}`);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    await context.close();
  } finally {
    await browser.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: audit search pages

function https(method, path, { body, cookie, csrf } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(BASE + path);
    const headers = { Accept: 'application/json' };
    if (cookie) headers.Cookie = cookie;
    if (csrf) headers['X-CSRF-Token'] = csrf;
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = Buffer.byteLength(data); }
    // The console's certificate is self-signed (generated at the daemon's first start).
    const req = httpsRequest({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: AGENT, rejectUnauthorized: false, timeout: 30000 }, (res) => {
      const head = nowMs();
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, text: body.toString('utf8'), bytes: body.length, head });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}
let AGENT;

async function auditBench() {
  const { Agent } = await import('node:https');
  AGENT = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  const login = await https('POST', '/api/v1/session', { body: { name: env('ZG_AUDITOR'), password: env('ZG_AUDITOR_PASSWORD') } });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
  const cookie = String(login.headers['set-cookie']).split(';')[0];
  const PAGES = Number(process.env.ZG_PAGES ?? '5');
  const people = Number(process.env.ZG_PEOPLE ?? '2000');
  const days = (d) => new Date(Date.UTC(2026, 0, 1) + d * 86400000).toISOString();
  // A fixed pseudo-random sequence, so reruns ask the same questions.
  let seed = 12345;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const zones = ['outside', 'office', 'db-view', 'db-ops'];
  const searches = [];
  for (let i = 0; i < 20; i += 1) searches.push({ label: 'person x whole year', q: { person: `p${rnd(people)}`, from: days(0), to: days(365) } });
  for (let i = 0; i < 20; i += 1) {
    const d = rnd(270);
    searches.push({ label: 'person x zone x 90 days', q: { person: `p${rnd(people)}`, zone: zones[rnd(4)], from: days(d), to: days(d + 90) } });
  }
  for (let i = 0; i < 20; i += 1) {
    const d = rnd(364);
    searches.push({ label: 'zone x 1 day', q: { zone: zones[rnd(4)], from: days(d), to: days(d + 1) } });
  }
  const first = [];
  const next = [];
  const byLabel = new Map();
  const headAll = [];
  const big = [];
  const small = [];
  let rows = 0;
  let warm = true;
  for (const s of searches) {
    let after = null;
    for (let p = 0; p < PAGES; p += 1) {
      const qs = new URLSearchParams({ ...s.q, limit: '100' });
      if (after) qs.set('after', after);
      const t0 = nowMs();
      const r = await https('GET', `/api/v1/audit?${qs}`, { cookie });
      const ms = nowMs() - t0;
      if (r.status !== 200) throw new Error(`GET /api/v1/audit?${qs}: ${r.status} ${r.text}`);
      const body = JSON.parse(r.text);
      rows += body.rows.length;
      if (warm) { warm = false; console.log(`first request after login (not counted): ${fmt(ms)} ms, ${body.rows.length} rows`); break; }
      (p === 0 ? first : next).push(ms);
      if (!byLabel.has(s.label)) byLabel.set(s.label, { ms: [], head: [], pages: 0, rows: 0, bytes: 0 });
      const b = byLabel.get(s.label);
      b.ms.push(ms); b.head.push(r.head - t0); b.pages += 1; b.rows += body.rows.length; b.bytes += r.bytes;
      headAll.push(r.head - t0);
      (r.bytes > 16384 ? big : small).push(ms);
      after = body.next;
      if (!after) break;
    }
  }
  console.log(`searches: ${searches.length}, up to ${PAGES} pages of 100 each, ${rows} rows in all`);
  for (const [label, b] of byLabel) {
    line(`${label} (${b.pages} pages, ${(b.rows / b.pages).toFixed(1)} rows, ${Math.round(b.bytes / b.pages)} bytes a page)`, summary(b.ms));
    line(`  ... until the response headers`, summary(b.head));
  }
  // A body over 16 KiB needs more than one TLS record; the split shows whether that costs time.
  if (small.length) line('pages with a body <= 16 KiB', summary(small));
  if (big.length) line('pages with a body > 16 KiB', summary(big));
  line('all pages, until the response headers', summary(headAll));
  line('first pages', summary(first));
  if (next.length) line('cursor pages', summary(next));
  line('all pages', summary([...first, ...next]));
  await https('DELETE', '/api/v1/session', { cookie, csrf: JSON.parse(login.text).csrf });
  AGENT.destroy();
}

const part = process.argv[2];
if (part === 'alarm') await alarmBench();
else if (part === 'audit') await auditBench();
else throw new Error('usage: node console_bench.mjs alarm|audit');
