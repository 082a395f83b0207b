// The bundled page on a private feed (factsd --read-auth token, issue 20): with a token in its
// cookie it shows live facts; with an expired one it says "not signed in" and then leaves the
// server alone; a session that expires while live ends in "session expired", not in a loop.
//
//   node tests/browser/auth_test.mjs <path to factsd>

import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS, binaryArgument, check, eventually, factTexts, run,
  startFactsd, stopChildren, waitForState,
} from './harness.mjs';

const binary = binaryArgument('tests/browser/auth_test.mjs');
const SECRET = 'browser-test-secret-of-at-least-32-bytes';
const QUIET_WINDOW_MS = 30_000;
const MOST_REQUESTS = 3;
const EXPIRING_SECONDS = 12;

const base64url = (bytes) => Buffer.from(bytes).toString('base64url');

// What an application's backend signs: HS256 over the header and claims (RFC 7519).
function mint(scope, lifetimeSeconds) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${
    base64url(JSON.stringify({ sub: 'reader', scope, iat: now, exp: now + lifetimeSeconds }))}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

async function publish(base, info) {
  const res = await fetch(`${base}/fact`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${mint('facts:write', 60)}` },
    body: JSON.stringify({ info, source: 'auth_test' }),
  });
  assert.equal(res.status, 201, `POST /fact answered ${res.status}: ${await res.text()}`);
}

// A page in its own browser context, with `token` as its cookie; counts what it asks the
// server for besides its own files.
async function openPage(browser, base, token) {
  const context = await browser.newContext();
  await context.addCookies([{ name: 'factsd_token', value: token, url: base }]);
  const page = await context.newPage();
  page.apiRequests = [];
  page.on('request', (req) => {
    const { pathname } = new URL(req.url());
    if (['/events', '/status', '/facts', '/fact'].includes(pathname) || pathname.startsWith('/facts/')) {
      page.apiRequests.push({ at: Date.now(), path: pathname });
    }
  });
  await page.goto(base);
  return { context, page };
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'factsd-auth-'));
  const keyFile = path.join(dir, 'jwt.key');
  writeFileSync(keyFile, SECRET);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  try {
    const { base } = await startFactsd(binary, { flags: ['--read-auth', 'token', '--jwt-key', keyFile] });
    await publish(base, 'before the page');

    await check('with a facts:read token in its cookie, the page is live and shows new facts', async () => {
      const { context, page } = await openPage(browser, base, mint('facts:read', 600));
      await waitForState(page, 'live');
      await publish(base, 'while the page is open');
      await eventually('the new fact on the page',
        async () => (await factTexts(page)).includes('while the page is open'));
      assert.ok((await factTexts(page)).includes('before the page'));
      await context.close();
    }, { fatal: true });

    let expiring;
    await check('a session that expires while live ends in "session expired"', async () => {
      // exp in whole seconds, 11 to 12 s from now: room for the page to go live first while
      // other tests load the machine (this test runs beside them).
      expiring = await openPage(browser, base, mint('facts:read', EXPIRING_SECONDS));
      await waitForState(expiring.page, 'live', (EXPIRING_SECONDS - 1) * 1000);
      await waitForState(expiring.page, 'session expired', EXPIRING_SECONDS * 1000 + STEP_TIMEOUT_MS);
    });

    await check(`with an expired token the page says "not signed in" and asks at most ${MOST_REQUESTS} times in 30 s`,
      async () => {
        const { context, page } = await openPage(browser, base, mint('facts:read', -60));
        await waitForState(page, 'not signed in');
        const started = Date.now();
        await new Promise((resolve) => setTimeout(resolve, QUIET_WINDOW_MS));
        const asked = page.apiRequests.length;
        const expiredAsked = expiring
          ? expiring.page.apiRequests.filter((r) => r.at >= started).length : 0;
        console.log(`       expired token: ${asked} requests (${page.apiRequests.map((r) => r.path).join(', ')}); ` +
          `the session that expired: ${expiredAsked} in the same 30 s`);
        assert.ok(asked <= MOST_REQUESTS, `${asked} requests`);
        assert.equal(await page.evaluate(() => document.getElementById('state').dataset.state), 'signed-out');
        assert.ok(expiredAsked <= MOST_REQUESTS, `the expired session asked ${expiredAsked} times`);
        await context.close();
      });
    if (expiring) await expiring.context.close();
  } finally {
    await browser.close();
    await stopChildren();
    rmSync(dir, { recursive: true, force: true });
  }
}

await run(main, 150_000);
