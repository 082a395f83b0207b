// The factsd page: a table of facts kept live by Server-Sent Events, and a form to publish one.
// Facts come from anyone who can POST, so every part of one is shown with textContent, never
// parsed as markup.

const liveRows = document.getElementById('live-facts');
const olderRows = document.getElementById('older-facts');
const gapRows = document.getElementById('gap');
const olderButton = document.getElementById('older');
const olderState = document.getElementById('older-state');
const empty = document.getElementById('empty');
const state = document.getElementById('state');
const clients = document.getElementById('clients');
const form = document.getElementById('fact-form');
const infoInput = document.getElementById('fact-info');
const sourceInput = document.getElementById('fact-source');
const submit = document.getElementById('fact-submit');
const formError = document.getElementById('form-error');

const STATUS_EVERY_MS = 5000;
const REOPEN_AFTER_MS = 5000;
const HELLO_EVERY_MS = 1000;
// What a tab holds and renders, whatever the size of the store: the newest LIVE_ROWS facts,
// and what the reader asked for with "Older facts", OLDER_PAGE at a click (GET /facts caps a
// page at 1,000) and at most OLDER_ROWS of them. Past that bound the newest of the older facts
// leave, since the reader is walking away from them. The DOM never holds more than
// LIVE_ROWS + OLDER_ROWS fact rows, and a tab's messages to others never more than LIVE_ROWS.
const LIVE_ROWS = 1000;
const OLDER_PAGE = 500;
const OLDER_ROWS = 5000;
const RENDER_EVERY_MS = 100; // why: at scheduleRender

// The seq of the newest fact received. factsd sends it as every event's id:, EventSource
// sends it back as Last-Event-ID on a reconnect, and the server then replays only what we
// missed. We still drop anything at or below it, so no fact can ever show twice.
let newestSeq = 0;
// The newest facts, oldest first, as { key, seq, fact }: what the live rows show once the next
// frame has rendered them, and what a leading tab hands a tab that joins. Their seqs have no
// holes and the last is newestSeq. A key numbers every fact this tab ever took, so the rows on
// screen and the facts here are matched by a subtraction.
let live = [];
let lastKey = 0;
// Facts loaded on demand, oldest first, as { seq, fact }; all of them older than live[0].
let older = [];
// The oldest seq shown when GET /facts had nothing older than it (retention may have dropped
// the first facts); the button comes back once older facts are shown again.
let noOlderBelow = 0;
// Counts the resets: an answer to an older request from before one belongs to another store.
let storeGeneration = 0;

// One stream for all tabs. A browser gives an origin six HTTP/1.1 connections and every
// EventSource holds one, so a seventh tab would hang. The tabs of an origin therefore elect a
// leader with Web Locks: only it holds the EventSource, and it passes every event to the others
// over a BroadcastChannel. When its tab closes the lock is free, the next tab takes over and
// resumes from the newest fact it has. Where either API is missing, each tab keeps its own
// stream. The role is on <html data-stream="own|leader|follower"> for tests and curious humans.
const SHARED_NAME = 'factsd-events';
const canShare = typeof BroadcastChannel === 'function' && typeof navigator.locks?.request === 'function';
const channel = canShare ? new BroadcastChannel(SHARED_NAME) : null;
let role = 'own';
// A follower's table is whole (every fact from its first on, none missing) once the leader
// has sent it a snapshot; until then, and after it notices a gap, it asks for one.
let synced = false;
let leaderState = 'connecting';

function setRole(name) {
  role = name;
  document.documentElement.dataset.stream = name;
}

// A private feed (factsd --read-auth token) refuses a reader without a valid token: the page
// says so in words, and stops asking until it is reloaded.
const STATE_TEXT = { 'signed-out': 'not signed in', expired: 'session expired' };

function showState(name) {
  state.textContent = STATE_TEXT[name] ?? name;
  state.dataset.state = name;
}

// The state of the stream this tab shows: a leader's is its own, and it tells the others.
function streamState(name) {
  showState(name);
  leaderState = name;
  if (role === 'leader') channel.postMessage({ kind: 'state', state: name });
}

function asText(value) {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// Only http: and https: URLs become links; javascript:, data: and the rest stay plain text.
function httpUrl(text) {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null;
  } catch {
    return null; // not an absolute URL
  }
}

function sourceCell(source) {
  const cell = document.createElement('td');
  const text = asText(source);
  const url = httpUrl(text);
  if (url) {
    const link = document.createElement('a');
    link.href = url.href;
    link.rel = 'noopener noreferrer';
    link.target = '_blank';
    link.textContent = text;
    cell.append(link);
  } else {
    cell.textContent = text;
  }
  return cell;
}

// `seq` is the fact's id, if known; `n` its seq or else its place in this tab, for the stripes.
function factRow(fact, seq, n) {
  // A fact is a JSON object by contract; anything else still gets a readable row.
  const isObject = fact !== null && typeof fact === 'object' && !Array.isArray(fact);
  const row = document.createElement('tr');
  if (seq !== null) row.dataset.id = String(seq);
  if (n % 2 === 0) row.className = 'stripe';
  const info = document.createElement('td');
  info.textContent = asText(isObject ? fact.info : fact);
  row.append(info, sourceCell(isObject ? fact.source : ''));
  return row;
}

// ---- what the table shows --------------------------------------------------------------------

function seqOf(lastEventId) {
  const last = /^\d+$/.test(lastEventId) ? Number(lastEventId) : NaN;
  return Number.isSafeInteger(last) ? last : null;
}

// Takes `facts`, which the server sent as ending at seq `lastEventId`. factsd numbers facts
// without gaps, so of n facts the k-th (from 0) has seq last - n + 1 + k.
function append(facts, lastEventId) {
  const last = seqOf(lastEventId);
  // Only the newest LIVE_ROWS can stay: a long catch-up or reset builds no more than that.
  for (let k = Math.max(0, facts.length - LIVE_ROWS); k < facts.length; k += 1) {
    const seq = last === null ? null : last - facts.length + 1 + k;
    if (seq !== null && seq <= newestSeq) continue; // already shown
    live.push({ key: ++lastKey, seq, fact: facts[k] });
  }
  if (last !== null) newestSeq = Math.max(newestSeq, last);
  if (live.length > LIVE_ROWS) live.splice(0, live.length - LIVE_ROWS);
  scheduleRender();
}

function replace(facts, lastEventId) {
  live = [];
  newestSeq = 0;
  append(facts, lastEventId);
}

// The server's facts are not the ones we had (a reset): older facts we loaded go too.
function resetTo(facts, lastEventId) {
  storeGeneration += 1;
  older = [];
  olderRows.replaceChildren();
  noOlderBelow = 0;
  replace(facts, lastEventId);
}

// Facts arrive 200 a second, and faster in a catch-up. The DOM changes in an animation frame, at
// most once every RENDER_EVERY_MS, by the rows that came and left since, never the whole table.
// Each change has the browser lay out and paint the table again, about as much work for one row
// as for twenty: ten changes a second instead of sixty took the tab's main thread from about
// 70% busy to about 30% at 200 facts/s (headless Chromium on 2 busy cores). A hidden tab gets
// no frames, and renders what it holds then once it is shown.
let renderPending = false;
let renderedAt = -Infinity;

function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  const wait = renderedAt + RENDER_EVERY_MS - performance.now();
  if (wait <= 0) requestAnimationFrame(render);
  else setTimeout(() => requestAnimationFrame(render), wait);
}

// The live rows on screen show the facts with keys renderedLast - rendered + 1 .. renderedLast.
let rendered = 0;
let renderedLast = 0;

function render() {
  renderPending = false;
  renderedAt = performance.now();
  // Rows with keys below live[0]'s left the live set; facts with keys above renderedLast came.
  const firstKey = live.length > 0 ? live[0].key : lastKey + 1;
  const leaving = Math.min(rendered, Math.max(0, firstKey - (renderedLast - rendered + 1)));
  if (leaving > 0 && leaving === rendered) {
    liveRows.replaceChildren();
  } else {
    for (let i = 0; i < leaving; i += 1) liveRows.firstElementChild.remove();
  }
  rendered -= leaving;
  const fresh = document.createDocumentFragment();
  for (let i = Math.max(0, renderedLast + 1 - firstKey); i < live.length; i += 1) {
    fresh.append(factRow(live[i].fact, live[i].seq, live[i].seq ?? live[i].key));
    rendered += 1;
  }
  liveRows.append(fresh);
  if (live.length > 0) renderedLast = live.at(-1).key;
  showBounds();
}

// The gap line between older and live facts, the "Older facts" button and the empty note.
function showBounds() {
  const gap = older.length > 0 && live.length > 0 ? live[0].seq - older.at(-1).seq - 1 : 0;
  if (gap > 0) {
    const row = gapRows.rows[0] ?? gapRows.insertRow();
    const cell = row.cells[0] ?? row.insertCell();
    cell.colSpan = 2;
    const count = `${gap.toLocaleString('en')} ${gap === 1 ? 'fact' : 'facts'}`;
    cell.textContent = `${count} in between not shown`;
  } else if (gapRows.rows.length > 0) {
    gapRows.replaceChildren();
  }
  const oldest = oldestShownSeq();
  olderButton.hidden = oldest === null || oldest <= 1 || oldest <= noOlderBelow;
  empty.hidden = live.length + older.length > 0;
}

function oldestShownSeq() {
  const first = older.length > 0 ? older[0] : live[0];
  return first && first.seq !== null ? first.seq : null;
}

// ---- older facts, on demand ------------------------------------------------------------------

// The facts with after < id < before, oldest first. GET /facts has only `after`, so a page that
// ends just below `before` starts OLDER_PAGE below it; a page may stop short of its limit (the
// server ends one before 1 MiB), so it reads on from `next` until it reaches `before`.
async function factsBetween(after, before) {
  const found = [];
  while (after < before - 1) {
    const url = `/facts?after=${after}&limit=${before - 1 - after}`;
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) throw new Error(`GET /facts answered ${res.status}`);
    const page = await res.json();
    const below = page.facts.filter((f) => f.id < before);
    found.push(...below);
    if (below.length === 0 || below.length < page.facts.length || !(page.next > after)) break;
    after = page.next;
  }
  return found;
}

async function loadOlder() {
  const before = oldestShownSeq();
  if (before === null || before <= 1) return;
  const generation = storeGeneration;
  olderButton.disabled = true;
  olderState.textContent = 'Loading…';
  let failed = false;
  try {
    const facts = await factsBetween(Math.max(0, before - 1 - OLDER_PAGE), before);
    // After a reset they belong to another store. Live facts that left meanwhile only widen
    // the gap between the two parts.
    if (generation !== storeGeneration) return;
    if (facts.length === 0) noOlderBelow = before;
    prependOlder(facts.map((f) => ({ seq: f.id, fact: f.fact })));
  } catch {
    failed = true;
  } finally {
    olderState.textContent = failed ? 'Could not load older facts.' : '';
    olderButton.disabled = false;
    showBounds();
  }
}

function prependOlder(entries) {
  const rows = document.createDocumentFragment();
  for (const { seq, fact } of entries) rows.append(factRow(fact, seq, seq));
  olderRows.prepend(rows);
  older = entries.concat(older);
  while (older.length > OLDER_ROWS) {
    older.pop();
    olderRows.lastElementChild.remove();
  }
}

olderButton.addEventListener('click', loadOlder);

// ---- the stream ------------------------------------------------------------------------------

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return undefined; // not a fact; ignore it rather than break the stream
  }
}

// The first event of a stream is an array (the snapshot), every later one a single fact:
// concat takes both, as the tutorial's client does.
function onMessage(event) {
  const data = parse(event);
  if (data === undefined) return;
  const facts = [].concat(data);
  append(facts, event.lastEventId);
  forward('message', event, facts);
}

// The server could not use our Last-Event-ID (it restarted, or lost facts): it sends the
// whole list as `reset`, and that list is the truth.
function onReset(event) {
  const data = parse(event);
  if (data === undefined) return;
  const facts = [].concat(data);
  resetTo(facts, event.lastEventId);
  forward('reset', event, facts);
}

// A new EventSource cannot send Last-Event-ID, so a tab that already shows facts (it reopens a
// stream the browser gave up on, or takes over from a leader) names the newest in the URL, and
// the server replays only what came after it. A tab that shows nothing yet would be sent the
// server's whole replay window (10,000 facts by default) and keep LIVE_ROWS of them: it asks
// for the facts after the newest but LIVE_ROWS instead. Whatever goes wrong with that only
// costs the bigger replay (or, should the server have lost facts since, a reset).
//
// The same GET /status tells whether we may read at all: an EventSource sees no status code,
// so a refused stream would only look like a network error, retried forever. Null: refused.
async function eventsUrl() {
  let newest;
  try {
    const res = await fetch('/status', { cache: 'no-store' });
    if (isRefusal(res.status)) return null;
    if (res.ok) newest = (await res.json()).last_id;
  } catch {
    // the stream will tell
  }
  if (newestSeq > 0) return `/events?lastEventId=${newestSeq}`;
  if (Number.isSafeInteger(newest) && newest > LIVE_ROWS) {
    return `/events?lastEventId=${newest - LIVE_ROWS}`;
  }
  return '/events';
}

function isRefusal(status) {
  return status === 401 || status === 403;
}

// No token, or one the server refuses: no more streams and no more polling from this tab.
let signedOut = false;
let everLive = false; // a stream of ours was open once: a refusal now means the session ended
let statusTimer;

function signOut(why) {
  signedOut = true;
  clearInterval(statusTimer);
  clients.textContent = '–';
  streamState(why);
}

// `why` is the state to show if the server refuses us: a tab that was live had a session.
async function connect(why = 'signed-out') {
  if (signedOut) return;
  const url = await eventsUrl();
  if (url === null) return signOut(why);
  const source = new EventSource(url);
  source.onopen = () => {
    everLive = true;
    streamState('live');
    refreshClients();
  };
  source.onerror = () => {
    streamState('reconnecting');
    if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
    // CLOSED: the browser gave up (an HTTP error or a wrong content type, say from a proxy)
    // and will not retry, so we open a new stream a little later.
    source.close();
    setTimeout(() => connect(everLive ? 'expired' : 'signed-out'), REOPEN_AFTER_MS);
  };
  source.onmessage = onMessage;
  source.addEventListener('reset', onReset);
  // The token expired and the server ended the stream after everything we were owed. The
  // application may have set a fresh cookie meanwhile: one new try, resuming from newestSeq,
  // and "session expired" if the server still refuses.
  source.addEventListener('auth', () => {
    source.close();
    connect('expired');
  });
}

// ---- sharing the stream between tabs ---------------------------------------------------------

// A leader passes each event of its stream on, as it came, but for the newest LIVE_ROWS of a
// longer array (a reset, a big snapshot): no tab keeps more.
function forward(type, event, facts) {
  if (role !== 'leader') return;
  const data = facts.length > LIVE_ROWS ? JSON.stringify(facts.slice(-LIVE_ROWS)) : event.data;
  channel.postMessage({ kind: 'event', type, data, lastEventId: event.lastEventId });
}

// The live facts, for a tab that joins or lost track: at most LIVE_ROWS, ending at newestSeq.
// Facts loaded on demand stay in the tab that asked for them.
function sendSnapshot() {
  channel.postMessage({
    kind: 'snapshot',
    data: JSON.stringify(live.map((entry) => entry.fact)),
    lastEventId: String(newestSeq),
    state: leaderState,
  });
}

// True when `facts`, ending at seq `lastEventId`, would leave a hole after our newest fact.
// LIVE_ROWS facts or more leave none: they are all the live set will hold.
function leavesGap(facts, lastEventId) {
  const last = seqOf(lastEventId);
  if (last === null || facts.length >= LIVE_ROWS) return false;
  return last - facts.length + 1 > newestSeq + 1;
}

function askForSnapshot() {
  synced = false;
  showState('connecting');
  channel.postMessage({ kind: 'hello' });
}

function onFollowerMessage(msg) {
  if (msg.kind === 'state') {
    leaderState = msg.state;
    if (synced) showState(leaderState);
    return;
  }
  const data = parse(msg);
  if (data === undefined) return;
  const facts = [].concat(data);
  if (msg.kind === 'snapshot' || (msg.kind === 'event' && msg.type === 'reset')) {
    // A whole list: the start of a table that has none, the rest of one that has a beginning.
    if (msg.type === 'reset') resetTo(facts, msg.lastEventId);
    else if (!synced || leavesGap(facts, msg.lastEventId)) replace(facts, msg.lastEventId);
    else append(facts, msg.lastEventId);
    synced = true;
    if (msg.state) leaderState = msg.state;
    showState(leaderState);
    return;
  }
  if (!synced) return; // the snapshot we asked for holds this too
  if (leavesGap(facts, msg.lastEventId)) return askForSnapshot();
  append(facts, msg.lastEventId);
}

function onChannelMessage({ data: msg }) {
  if (msg === null || typeof msg !== 'object') return;
  if (role === 'follower') return onFollowerMessage(msg);
  if (role === 'leader' && msg.kind === 'hello' && synced) sendSnapshot();
  // A leader's table comes from its own stream only; what other tabs say is for followers.
}

// Runs when this tab holds the lock, until the tab closes: it opens the one stream.
function lead() {
  setRole('leader');
  streamState('connecting');
  // Whatever this tab shows is whole (a follower's table has no holes), so others may start
  // from it; the stream then adds what came since.
  synced = true;
  sendSnapshot();
  connect();
}

function share() {
  setRole('follower');
  channel.onmessage = onChannelMessage;
  askForSnapshot();
  setInterval(() => {
    if (role === 'follower' && !synced) channel.postMessage({ kind: 'hello' });
  }, HELLO_EVERY_MS);
  // The callback's promise never settles: the lock is held until the tab goes away.
  navigator.locks.request(SHARED_NAME, () => new Promise(() => lead()));
}

// Answers can come back out of order; only the newest request may write the count.
let statusTicket = 0;

async function refreshClients() {
  const ticket = ++statusTicket;
  let text = '–'; // unknown while the server cannot be reached
  try {
    const res = await fetch('/status', { cache: 'no-store' });
    if (isRefusal(res.status)) clearInterval(statusTimer); // the stream's own check says why
    if (res.ok) {
      const status = await res.json();
      if (Number.isInteger(status.clients)) text = String(status.clients);
    }
  } catch {
    // keep the dash
  }
  if (ticket === statusTicket) clients.textContent = text;
}

function showError(message) {
  formError.textContent = message;
  formError.hidden = message === '';
}

async function errorText(res) {
  try {
    const body = await res.json();
    if (body && typeof body.error === 'string' && body.error !== '') return body.error;
  } catch {
    // not JSON: fall through to the status line
  }
  return `The server answered ${res.status} ${res.statusText}`.trim();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (infoInput.value.trim() === '') {
    showError('A fact needs some text.');
    infoInput.focus();
    return;
  }
  showError('');
  submit.disabled = true;
  try {
    const res = await fetch('/fact', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ info: infoInput.value, source: sourceInput.value }),
    });
    if (!res.ok) {
      showError(await errorText(res));
      return;
    }
    // No local row: the fact comes back through the stream like everyone else's, and adding
    // it here as well would show it twice.
    form.reset();
    infoInput.focus();
  } catch {
    showError('Could not reach the server.');
  } finally {
    submit.disabled = false;
  }
});

showState('connecting');
if (canShare) {
  share();
} else {
  setRole('own');
  connect();
}
refreshClients();
statusTimer = setInterval(refreshClients, STATUS_EVERY_MS);
