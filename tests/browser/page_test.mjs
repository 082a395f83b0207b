// The page factsd serves, driven in headless Chromium against a real factsd.
//
//   node tests/browser/page_test.mjs <path to factsd>
//
// Starts its own factsd on 127.0.0.1:0 with an in-memory store, and always kills it (and the
// second one the reset check starts) by pid, also on failure or when the global timeout hits.
// Uses Debian's /usr/bin/chromium through playwright-core: no browser is ever downloaded.
// Set FACTSD_SCREENSHOT=/some/file.png to keep a screenshot of the page for a human to look at,
// and FACTSD_WEB_ROOT=web (factsd reads it) to test the page on disk without rebuilding.

import net from 'node:net';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import {
  CHROMIUM, CHROMIUM_ARGS, binaryArgument, check, factTexts, postFact, run, startFactsd, stopChild,
  stopChildren, waitForState,
} from './harness.mjs';

const GLOBAL_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 10_000; // this test's own step deadline (the harness's is 15 s)
const START_TIMEOUT_MS = 10_000; // for factsd's start line (the harness's default is 20 s)
const LIVE = 'live'; // what #state says while the stream is open

const binary = binaryArgument('page_test.mjs');

// A TCP relay between the browser and factsd. It can cut every connection, hold new ones until
// resumed (so a reconnect waits while the test changes things behind it), switch to another
// upstream, and it keeps the head of each request so we can see what the browser sent.
function startRelay(upstreamPort) {
  const sockets = new Set();
  const held = [];
  const sent = []; // per connection, what the browser sent (heads only: the page posts nothing here)
  let paused = false;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const start = () => {
      const upstream = net.connect(relay.upstreamPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      const log = { text: '' };
      sent.push(log);
      client.on('data', (chunk) => {
        // A GET head arrives in one chunk, so dropping the header from the chunk is enough.
        if (relay.dropLastEventId)
          chunk = Buffer.from(chunk.toString('latin1').replace(/^last-event-id:.*\r\n/im, ''), 'latin1');
        if (log.text.length < 65536) log.text += chunk.toString('latin1');
        upstream.write(chunk);
      });
      upstream.pipe(client);
    };
    if (paused) held.push(start);
    else start();
  });
  const relay = {
    upstreamPort,
    dropLastEventId: false, // act like a proxy that loses the header: the server replays all
    // Every request head seen, in the order the connections opened.
    get requests() {
      return sent.flatMap((log) => log.text.split('\r\n\r\n').filter((h) => /^[A-Z]+ \//.test(h)));
    },
    listen: () => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port))),
    pause: () => { paused = true; },
    resume: () => {
      paused = false;
      for (const start of held.splice(0)) start();
    },
    cut: () => { for (const s of sockets) s.destroy(); },
    close: () => {
      relay.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
  return relay;
}

// ---- checks ---------------------------------------------------------------------------------

function waitForRow(page, info) {
  return page.waitForFunction(
    (text) => [...document.querySelectorAll('#facts tbody tr')].some((tr) => tr.cells[0].textContent === text),
    info, { timeout: STEP_TIMEOUT_MS });
}

function waitForRowCount(page, count) {
  return page.waitForFunction((n) => document.querySelectorAll('#facts tbody tr').length === n,
    count, { timeout: STEP_TIMEOUT_MS });
}

// The table must hold exactly `expected`, in that order, each once.
async function assertTable(page, expected) {
  assert.deepEqual(await factTexts(page), expected);
}

async function main() {
  let server = await startFactsd(binary, { startTimeoutMs: START_TIMEOUT_MS });
  console.log(`# factsd pid ${server.child.pid} on ${server.base}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  let relay = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const dialogs = [];
    const pageErrors = [];
    const watch = (p) => {
      p.on('dialog', (d) => {
        dialogs.push(d.message());
        d.dismiss().catch(() => {});
      });
      p.on('pageerror', (e) => pageErrors.push(e.message));
    };
    const page = await context.newPage();
    watch(page);
    const posted = []; // every fact's info, in the order factsd stored them

    await check('the page loads with a Fact and a Source column', async () => {
      const res = await page.goto(`${server.base}/`);
      assert.equal(res.status(), 200);
      const headers = await page.$$eval('#facts thead th', (ths) => ths.map((th) => th.textContent.trim()));
      assert.deepEqual(headers, ['Fact', 'Source']);
      assert.equal(await page.locator('#facts tbody tr').count(), 0);
    }, { fatal: true });

    await check(`the connection state becomes "${LIVE}"`, async () => {
      await waitForState(page, LIVE, STEP_TIMEOUT_MS);
    }, { fatal: true });

    await check('a fact posted through the form appears as a row and the inputs clear', async () => {
      const info = 'Shark teeth are embedded in the gums and replaced throughout life.';
      await page.fill('#fact-info', info);
      await page.fill('#fact-source', 'https://en.wikipedia.org/wiki/Shark');
      await page.click('#fact-submit');
      posted.push(info);
      await waitForRow(page, info);
      // The row comes from the stream, which factsd feeds before it answers the POST; the form
      // clears on that answer, a moment later: wait for it, under the step's deadline.
      await page.waitForFunction(() => document.getElementById('fact-info').value === ''
        && document.getElementById('fact-source').value === '', null, { timeout: STEP_TIMEOUT_MS });
      assert.equal(await page.locator('#form-error').isVisible(), false);
      await assertTable(page, posted); // shown once: the page adds no local copy
    });

    await check('a fact posted from outside the page appears live', async () => {
      const info = 'Octopuses have three hearts.';
      await postFact(server.base, { info, source: 'a book about the sea' });
      posted.push(info);
      await waitForRow(page, info);
      await assertTable(page, posted);
    });

    await check('markup in a fact is shown as text and never runs', async () => {
      const info = '<img src=x onerror=alert(1)>';
      await postFact(server.base, { info, source: '<b>bold?</b>' });
      posted.push(info);
      await waitForRow(page, info);
      assert.equal(await page.locator('#facts img').count(), 0, 'an img element was created');
      assert.equal(await page.locator('#facts b').count(), 0, 'a b element was created');
      await page.waitForTimeout(300); // an onerror would fire about now
      assert.deepEqual(dialogs, [], 'a dialog was opened');
    });

    await check('only an http(s) source is a link; javascript: stays text', async () => {
      const info = 'This source must not be clickable.';
      await postFact(server.base, { info, source: 'javascript:alert(1)' });
      posted.push(info);
      await waitForRow(page, info);
      const cells = await page.$$eval('#facts tbody tr', (trs) => trs.map((tr) => {
        const link = tr.cells[1].querySelector('a');
        return {
          info: tr.cells[0].textContent,
          text: tr.cells[1].textContent,
          href: link?.getAttribute('href') ?? null,
          rel: link?.rel ?? null,
          target: link?.target ?? null,
        };
      }));
      const bad = cells.find((c) => c.info === info);
      assert.deepEqual(bad, { info, text: 'javascript:alert(1)', href: null, rel: null, target: null });
      const shark = cells[0];
      assert.equal(shark.href, 'https://en.wikipedia.org/wiki/Shark');
      assert.deepEqual(shark.rel.split(/\s+/).sort(), ['noopener', 'noreferrer']);
      assert.equal(shark.target, '_blank');
      assert.equal(cells[1].href, null, 'a plain-text source became a link');
      assert.equal(cells[1].text, 'a book about the sea');
      assert.equal(await page.locator('#facts a[href^="javascript"]').count(), 0);
    });

    await check('the connected client count shows at least 1', async () => {
      await page.waitForFunction(() => Number(document.getElementById('clients').textContent) >= 1,
        null, { timeout: STEP_TIMEOUT_MS });
    });

    if (process.env.FACTSD_SCREENSHOT) {
      await page.screenshot({ path: process.env.FACTSD_SCREENSHOT, fullPage: true });
      console.log(`# screenshot: ${process.env.FACTSD_SCREENSHOT}`);
    }

    await check('after a reload every fact appears exactly once, in order', async () => {
      await page.reload();
      await waitForState(page, LIVE, STEP_TIMEOUT_MS);
      await waitForRowCount(page, posted.length);
      await page.waitForTimeout(300); // room for a duplicate to arrive late
      await assertTable(page, posted);
    });

    await check('the form shows the server\'s error text and keeps the inputs', async () => {
      await page.route('**/fact', (route) => route.fulfill({
        status: 400, contentType: 'application/json', body: '{"error":"boom"}',
      }), { times: 1 });
      await page.fill('#fact-info', 'refused fact');
      await page.fill('#fact-source', 'nowhere');
      await page.click('#fact-submit');
      await page.waitForFunction(() => {
        const el = document.getElementById('form-error');
        return !el.hidden && el.textContent.includes('boom');
      }, null, { timeout: STEP_TIMEOUT_MS });
      assert.equal(await page.inputValue('#fact-info'), 'refused fact');
      await assertTable(page, posted);
    });

    await page.close();

    // The rest goes through a relay, so the test can cut the stream under the page.
    relay = startRelay(server.port);
    const relayBase = `http://127.0.0.1:${await relay.listen()}`;
    const page2 = await context.newPage();
    watch(page2);

    await check('after a dropped stream the page resumes with Last-Event-ID and shows missed facts once', async () => {
      await page2.goto(`${relayBase}/`);
      await waitForState(page2, LIVE, STEP_TIMEOUT_MS);
      await waitForRowCount(page2, posted.length);
      const newest = (await (await fetch(`${server.base}/status`)).json()).last_id;
      relay.pause();
      relay.cut();
      await waitForState(page2, 'reconnecting', STEP_TIMEOUT_MS);
      const info = 'Posted while the page was away.';
      await postFact(server.base, { info, source: 'https://example.org/missed' });
      posted.push(info);
      relay.resume();
      await waitForState(page2, LIVE, STEP_TIMEOUT_MS);
      await waitForRow(page2, info);
      await page2.waitForTimeout(300);
      await assertTable(page2, posted);
      const resumed = relay.requests.filter((r) => r.startsWith('GET /events'));
      assert.ok(resumed.length >= 2, 'the page did not reopen /events');
      assert.match(resumed.at(-1), new RegExp(`^last-event-id: ${newest}$`, 'im'));
    });

    await check('when the server replays facts the page already shows, each still shows once', async () => {
      relay.dropLastEventId = true;
      try {
        relay.pause();
        relay.cut();
        await waitForState(page2, 'reconnecting', STEP_TIMEOUT_MS);
        const info = 'Posted while the header was lost.';
        await postFact(server.base, { info, source: '' });
        posted.push(info);
        relay.resume();
        await waitForState(page2, LIVE, STEP_TIMEOUT_MS);
        await waitForRow(page2, info);
        await page2.waitForTimeout(300);
        await assertTable(page2, posted);
        const reopened = relay.requests.filter((r) => r.startsWith('GET /events')).at(-1);
        assert.doesNotMatch(reopened, /^last-event-id:/im, 'the relay did not drop the header');
      } finally {
        relay.dropLastEventId = false;
        relay.resume();
      }
    });

    await check('when the browser gives up on the stream, the page opens a new one', async () => {
      // A 502 ends an EventSource for good (a proxy in front of factsd can answer that).
      let refused = 0;
      await page2.route('**/events', (route) => {
        refused += 1;
        return route.fulfill({ status: 502, body: 'bad gateway' });
      }, { times: 1 });
      try {
        relay.cut();
        await waitForState(page2, 'reconnecting', STEP_TIMEOUT_MS);
        const info = 'Posted while the stream was refused.';
        await postFact(server.base, { info, source: 'https://example.org/refused' });
        posted.push(info);
        await waitForState(page2, LIVE, 15_000); // the page waits 5 s before it tries again
        await waitForRow(page2, info);
        await page2.waitForTimeout(300);
        await assertTable(page2, posted);
        assert.equal(refused, 1, 'the reconnect never met the 502');
      } finally {
        await page2.unrouteAll();
      }
    });

    await check('after the server lost its facts, the reset event replaces the table', async () => {
      relay.pause();
      await stopChild(server.child);
      relay.cut();
      server = await startFactsd(binary, { startTimeoutMs: START_TIMEOUT_MS });
      console.log(`#   second factsd pid ${server.child.pid} on ${server.base}`);
      relay.upstreamPort = server.port;
      const info = 'The only fact the new server has.';
      await postFact(server.base, { info, source: 'https://example.org/new' });
      await waitForState(page2, 'reconnecting', STEP_TIMEOUT_MS);
      relay.resume();
      // A stopping factsd tells each stream to retry after 1 to 11 s, spread so that clients do
      // not all return at once: the page comes back within that, not within a step's timeout.
      await waitForState(page2, LIVE, 11_000 + STEP_TIMEOUT_MS);
      await waitForRowCount(page2, 1);
      await assertTable(page2, [info]);
      const reopened = relay.requests.filter((r) => r.startsWith('GET /events')).at(-1);
      assert.match(reopened, /^last-event-id: \d+$/im);
    });

    await check('no dialog opened and no script error on the page', async () => {
      assert.deepEqual(dialogs, []);
      assert.deepEqual(pageErrors, []);
    });
  } finally {
    await browser.close().catch(() => {});
    if (relay) await relay.close();
    await stopChildren();
  }
}

await run(main, GLOBAL_TIMEOUT_MS);
