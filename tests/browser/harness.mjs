// What the multi-tab browser tests share: factsd (and other children) started and always
// stopped by pid, numbered checks on their own lines, waits under deadlines, and reading the
// page and the store. Uses Debian's /usr/bin/chromium through playwright-core.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import assert from 'node:assert/strict';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Ten tabs in one headless window: none of them may be throttled as a background tab.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows'];
export const STEP_TIMEOUT_MS = 15_000;

/** The factsd binary named on the command line, or exit 2. */
export function binaryArgument(script) {
  const binary = process.argv[2];
  if (!binary || !existsSync(binary)) {
    console.error(`usage: node ${script} <path to factsd>  (got ${binary ?? 'nothing'})`);
    process.exit(2);
  }
  return binary;
}

// ---- processes we own ----------------------------------------------------------------------

const children = new Set();

function killChildren() {
  for (const child of children) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killChildren();
    process.exit(1);
  });
}

/** Starts `command` with `args`; it is killed by pid when this process ends, however. */
export function startChild(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  children.add(child);
  child.log = '';
  child.stderr.setEncoding('utf8');
  // Keep reading for the whole run: a full pipe would block the child's logging.
  child.stderr.on('data', (text) => {
    if (child.log.length < 20_000) child.log += text;
  });
  child.on('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once it is gone. */
export async function stopChild(child, signal = 'SIGTERM') {
  if (!children.has(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(child.pid, signal);
  const timeout = new Promise((resolve) => setTimeout(resolve, 5_000, 'timeout'));
  if ((await Promise.race([exited, timeout])) === 'timeout') process.kill(child.pid, 'SIGKILL');
  children.delete(child);
}

/** Stops every child still running, one after another, as stopChild does. */
export async function stopChildren() {
  for (const child of [...children]) await stopChild(child);
}

/**
 * factsd on 127.0.0.1:0 with a memory store and `flags`; resolves once its start line names the
 * port, and rejects if none came within `startTimeoutMs`.
 */
export function startFactsd(binary, { startTimeoutMs = 20_000, flags = [] } = {}) {
  return new Promise((resolve, reject) => {
    // --log-level info: the start line must be printed whatever FACTSD_LOG_LEVEL says.
    const args = ['--listen', '127.0.0.1:0', '--store', 'memory:', '--retry', '300', '--log-level', 'info',
      ...flags];
    const child = startChild(binary, args);
    const timer = setTimeout(() => fail(new Error(`no start line within ${startTimeoutMs / 1000}s`)),
      startTimeoutMs);
    function fail(err) {
      clearTimeout(timer);
      reject(new Error(`factsd did not start: ${err.message}\n${child.log}`));
    }
    child.on('error', fail);
    child.on('exit', (code, signal) => fail(new Error(`exited with ${code ?? signal}`)));
    child.stderr.on('data', () => {
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(child.log);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]), base: `http://127.0.0.1:${match[1]}` });
      }
    });
  });
}

/** A port nobody listens on now (the kernel's pick for port 0, closed again). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---- checks ---------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
let stopped = false;

/** Runs one check, reported on its own line; a fatal failure skips the remaining ones. */
export async function check(name, fn, { fatal = false } = {}) {
  if (stopped) return;
  try {
    await fn();
    passed += 1;
    console.log(`ok   - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL - ${name}: ${String(err?.message ?? err).split('\n').slice(0, 8).join('\n       ')}`);
    if (fatal) {
      stopped = true;
      console.log('       (fatal: skipping the remaining checks)');
    }
  }
}

/** Runs `main` under a global deadline, reports, and exits 0 only when every check passed. */
export async function run(main, globalTimeoutMs) {
  const globalTimer = setTimeout(() => {
    console.log(`FAIL - global timeout: the run took longer than ${globalTimeoutMs / 1000}s`);
    console.log(`${passed} passed, ${failed + 1} failed`);
    killChildren();
    process.exit(1);
  }, globalTimeoutMs);
  try {
    await main();
  } catch (err) {
    failed += 1;
    console.log(`FAIL - setup: ${err?.stack ?? err}`);
  } finally {
    killChildren();
    clearTimeout(globalTimer);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && !stopped ? 0 : 1);
}

/** Polls `condition` (may be async) every 50 ms until it is truthy; throws after `timeoutMs`. */
export async function eventually(what, condition, timeoutMs = STEP_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---- the store and the page -----------------------------------------------------------------

/** POSTs a fact with Node's fetch (plain HTTP); returns the stored fact. */
export async function postFact(base, fact) {
  const res = await fetch(`${base}/fact`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(fact),
  });
  const body = await res.text();
  assert.equal(res.status, 201, `POST /fact answered ${res.status}: ${body}`);
  return JSON.parse(body);
}

/** Every stored fact's info, in id order, read page by page from GET /facts. */
export async function storedInfos(fetchJson) {
  const infos = [];
  for (let after = 0; ;) {
    const page = await fetchJson(`/facts?after=${after}&limit=1000`);
    if (page.facts.length === 0) return infos;
    infos.push(...page.facts.map((f) => f.fact.info));
    after = page.next;
  }
}

/** The Fact column of a page, top to bottom. */
export const factTexts = (page) =>
  page.$$eval('#facts tbody tr', (trs) => trs.map((tr) => tr.cells[0].textContent));

export const streamRole = (page) => page.evaluate(() => document.documentElement.dataset.stream);

export function waitForState(page, label, timeout = STEP_TIMEOUT_MS) {
  return page.waitForFunction((want) => document.getElementById('state').textContent === want,
    label, { timeout });
}

/** Waits until `page` shows exactly `count` rows, then checks they are `expected`, in order. */
export async function assertTableBecomes(page, expected, name) {
  await page.waitForFunction((n) => document.querySelectorAll('#facts tbody tr').length >= n,
    expected.length, { timeout: STEP_TIMEOUT_MS }).catch(() => {});
  assert.deepEqual(await factTexts(page), expected, `${name} does not show exactly the stored facts`);
}
