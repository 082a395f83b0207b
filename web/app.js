// The factsd page: a table of facts kept live by Server-Sent Events, and a form to publish one.
// Facts come from anyone who can POST, so every part of one is shown with textContent, never
// parsed as markup.

const rows = document.querySelector('#facts tbody');
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

// The seq of the newest fact in the table. factsd sends it as every event's id:, EventSource
// sends it back as Last-Event-ID on a reconnect, and the server then replays only what we
// missed. We still drop anything at or below it, so no fact can ever show twice.
let newestSeq = 0;
// Set when we had to open a brand-new EventSource: it sends no Last-Event-ID, so its first
// snapshot holds everything and replaces the table instead of being appended.
let replaceOnSnapshot = false;

function showState(name) {
  state.textContent = name;
  state.dataset.state = name;
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

function factRow(fact) {
  // A fact is a JSON object by contract; anything else still gets a readable row.
  const isObject = fact !== null && typeof fact === 'object' && !Array.isArray(fact);
  const row = document.createElement('tr');
  const info = document.createElement('td');
  info.textContent = asText(isObject ? fact.info : fact);
  row.append(info, sourceCell(isObject ? fact.source : ''));
  return row;
}

// Appends `facts`, which the server sent as ending at seq `lastEventId`. factsd numbers facts
// without gaps, so of n facts the k-th (from 0) has seq last - n + 1 + k.
function append(facts, lastEventId) {
  const last = /^\d+$/.test(lastEventId) ? Number(lastEventId) : NaN;
  const known = Number.isSafeInteger(last);
  const fresh = document.createDocumentFragment();
  facts.forEach((fact, k) => {
    if (known && last - facts.length + 1 + k <= newestSeq) return; // already shown
    fresh.append(factRow(fact));
  });
  if (known) newestSeq = Math.max(newestSeq, last);
  rows.append(fresh);
  empty.hidden = rows.rows.length > 0;
}

function replace(facts, lastEventId) {
  rows.replaceChildren();
  newestSeq = 0;
  append(facts, lastEventId);
}

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
  if (replaceOnSnapshot) {
    replaceOnSnapshot = false;
    replace(facts, event.lastEventId);
  } else {
    append(facts, event.lastEventId);
  }
}

// The server could not use our Last-Event-ID (it restarted, or lost facts): it sends the
// whole list as `reset`, and that list is the truth.
function onReset(event) {
  const data = parse(event);
  if (data === undefined) return;
  replaceOnSnapshot = false;
  replace([].concat(data), event.lastEventId);
}

function connect() {
  const source = new EventSource('/events');
  source.onopen = () => {
    showState('live');
    refreshClients();
  };
  source.onerror = () => {
    showState('reconnecting');
    if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
    // CLOSED: the browser gave up (an HTTP error or a wrong content type, say from a proxy)
    // and will not retry, so we open a new stream a little later.
    source.close();
    replaceOnSnapshot = true;
    setTimeout(connect, REOPEN_AFTER_MS);
  };
  source.onmessage = onMessage;
  source.addEventListener('reset', onReset);
}

// Answers can come back out of order; only the newest request may write the count.
let statusTicket = 0;

async function refreshClients() {
  const ticket = ++statusTicket;
  let text = '–'; // unknown while the server cannot be reached
  try {
    const res = await fetch('/status', { cache: 'no-store' });
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
connect();
refreshClients();
setInterval(refreshClients, STATUS_EVERY_MS);
