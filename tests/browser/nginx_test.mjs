// The deploy/nginx config in front of factsd: Debian's nginx with a self-signed certificate made
// here, rendered onto free loopback ports with its own pid and temp paths (never the system
// service), and ten tabs of headless Chromium over HTTPS and HTTP/2. Web Locks are taken away
// from the page, so every tab holds its own EventSource: ten live streams to one origin, which
// a browser's six HTTP/1.1 connections could not carry.
//
//   node tests/browser/nginx_test.mjs <path to factsd>

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT_MS, assertTableBecomes, binaryArgument, check, eventually,
  freePort, run, startChild, startFactsd, stopChild, storedInfos, streamRole, waitForState,
} from './harness.mjs';

const TABS = 10;
const NGINX = process.env.NGINX_PATH || '/usr/sbin/nginx';
const here = path.dirname(fileURLToPath(import.meta.url));
const template = path.join(here, '..', '..', 'deploy', 'nginx', 'factsd.conf');
const binary = binaryArgument('nginx_test.mjs');

// `text` with `pattern` replaced; throws when the deploy config no longer has it, so that a
// change there cannot leave this test checking something else.
function swap(text, pattern, replacement) {
  assert.match(text, pattern, `deploy/nginx/factsd.conf has no ${pattern}`);
  return text.replace(pattern, replacement);
}

// deploy/nginx/factsd.conf onto our ports and certificate, with one more upstream that refuses
// every connection, so that passive health (max_fails) has something to do.
function renderSite({ httpPort, httpsPort, factsdPort, deadPort, dir }) {
  let site = readFileSync(template, 'utf8');
  site = swap(site, /^\s*listen \[::\]:80;\n/m, '');
  site = swap(site, /^\s*listen \[::\]:443 ssl http2;\n/m, '');
  site = swap(site, /listen 80;/, `listen 127.0.0.1:${httpPort};`);
  site = swap(site, /listen 443 ssl http2;/, `listen 127.0.0.1:${httpsPort} ssl http2;`);
  site = swap(site, /ssl_certificate \S+;/, `ssl_certificate ${dir}/cert.pem;`);
  site = swap(site, /ssl_certificate_key \S+;/, `ssl_certificate_key ${dir}/key.pem;`);
  site = swap(site, /server 127\.0\.0\.1:3001 (.*);/,
    `server 127.0.0.1:${deadPort} $1;\n    server 127.0.0.1:${factsdPort} $1;`);
  return site;
}

// The main config the site is included from, as Debian's nginx.conf would include it, but with
// every path in our folder. gzip is on for everything, as a site may have it: /events must
// still go out uncompressed.
function renderMain(dir) {
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `${user}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  types { text/html html; application/javascript js; text/css css; }
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  gzip on;
  gzip_min_length 1;
  gzip_types text/event-stream text/javascript application/javascript application/json text/css text/plain;
  include ${dir}/factsd.conf;
}
`;
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'factsd-nginx-'));
  const server = await startFactsd(binary);
  console.log(`# factsd pid ${server.child.pid} on ${server.base}`);
  let nginx = null;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`], { stdio: 'ignore' });
    const ports = {
      httpPort: await freePort(), httpsPort: await freePort(), deadPort: await freePort(),
      factsdPort: server.port, dir,
    };
    writeFileSync(`${dir}/factsd.conf`, renderSite(ports));
    writeFileSync(`${dir}/nginx.conf`, renderMain(dir));
    const nginxArgs = ['-p', dir, '-c', `${dir}/nginx.conf`, '-e', `${dir}/error.log`];
    const origin = `https://127.0.0.1:${ports.httpsPort}`;

    await check('nginx -t accepts the deploy config', async () => {
      execFileSync(NGINX, ['-t', ...nginxArgs], { stdio: 'pipe' });
    }, { fatal: true });

    nginx = startChild(NGINX, nginxArgs);
    console.log(`# nginx pid ${nginx.pid} on ${origin}`);
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    // Every tab its own EventSource: no Web Locks, no leader.
    await context.addInitScript(() => { delete Navigator.prototype.locks; });
    const pageErrors = [];
    const tabs = [];
    const inPage = (fn, arg) => tabs[0].evaluate(fn, arg);
    const getJson = (p) => inPage(async (url) => (await fetch(url, { cache: 'no-store' })).json(), p);

    await check('the page loads over HTTPS with HTTP/2', async () => {
      const page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      tabs.push(page);
      await eventually('nginx answering', async () =>
        (await page.goto(`${origin}/`).catch(() => null))?.status() === 200);
      assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol), 'h2');
    }, { fatal: true });

    await check('plain HTTP is redirected to HTTPS', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.httpPort}/events`, { redirect: 'manual' });
      assert.equal(res.status, 301);
      assert.match(res.headers.get('location'), /^https:\/\/127\.0\.0\.1\/events$/);
    });

    await check('/events is streamed without gzip; the other answers are compressed', async () => {
      const seen = await inPage(async () => {
        const res = await fetch('/events');
        const reader = res.body.getReader();
        const { value } = await reader.read(); // the first bytes come before the stream ends
        await reader.cancel();
        const js = await fetch('/app.js', { cache: 'no-store' });
        return {
          status: res.status,
          type: res.headers.get('content-type'),
          encoding: res.headers.get('content-encoding'),
          first: new TextDecoder().decode(value),
          jsEncoding: js.headers.get('content-encoding'),
        };
      });
      assert.equal(seen.status, 200);
      assert.equal(seen.type, 'text/event-stream');
      assert.equal(seen.encoding, null);
      assert.match(seen.first, /retry: \d+/);
      assert.equal(seen.jsEncoding, 'gzip', 'gzip is not on, so the /events check proves nothing');
    });

    await check(`${TABS} tabs over HTTP/2 each hold a live stream of their own`, async () => {
      for (let i = tabs.length; i < TABS; i += 1) {
        const page = await context.newPage();
        page.on('pageerror', (e) => pageErrors.push(e.message));
        await page.goto(`${origin}/`);
        tabs.push(page);
      }
      for (const page of tabs) await waitForState(page, 'live');
      assert.deepEqual(new Set(await Promise.all(tabs.map(streamRole))), new Set(['own']));
      await eventually(`${TABS} open streams`, async () => (await getJson('/status')).clients === TABS);
    });

    await check('a fact posted through nginx reaches all ten tabs, each exactly once', async () => {
      for (let i = 1; i <= 3; i += 1) {
        const status = await inPage(async (info) => (await fetch('/fact', {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ info, source: 'nginx_test' }),
        })).status, `through nginx ${i}`);
        assert.equal(status, 201);
      }
      const expected = await storedInfos(getJson);
      assert.equal(expected.length, 3);
      for (const [i, page] of tabs.entries()) await assertTableBecomes(page, expected, `tab ${i}`);
    });

    await check('no script error in any tab', async () => {
      assert.deepEqual(pageErrors, []);
    });
  } finally {
    await browser.close().catch(() => {});
    if (nginx) await stopChild(nginx, 'SIGQUIT');
    await stopChild(server.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

await run(main, 120_000);
