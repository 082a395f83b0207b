// The "realtime facts" tutorial's server, written from its description in
// shared/tutorial-contract.md (express 4, cors, body-parser), as a benchmark peer for
// scripts/bench. It keeps the tutorial's behaviour, flaws included: facts only in memory, the
// whole list replayed to every new stream, client ids from the clock, no ids on events, and
// writes to slow clients buffered without limit. Only the address differs: PORT (0 picks a free
// port) on 127.0.0.1, printed as "listening on HOST:PORT" on stderr for the benchmark to read.
const express = require('express');
const bodyParser = require('body-parser');
const cors = require('cors');

const app = express();
app.use(cors());
app.use(bodyParser.json());
app.use(bodyParser.urlencoded({ extended: false }));

let clients = [];
const facts = [];

// GET /status: how many streams are open.
app.get('/status', (request, response) => response.json({ clients: clients.length }));

// GET /events: an event stream that starts with every fact so far as one JSON array.
app.get('/events', (request, response) => {
  response.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Connection': 'keep-alive',
    'Cache-Control': 'no-cache',
  });
  response.write(`data: ${JSON.stringify(facts)}\n\n`);

  const id = Date.now();
  clients.push({ id, response });
  request.on('close', () => {
    clients = clients.filter((client) => client.id !== id);
  });
});

// POST /fact: keep the body, answer with it, and send it to every stream as one event.
app.post('/fact', (request, response) => {
  const fact = request.body;
  facts.push(fact);
  response.json(fact);
  const event = `data: ${JSON.stringify(fact)}\n\n`;
  clients.forEach((client) => client.response.write(event));
});

const server = app.listen(Number(process.env.PORT || 3001), '127.0.0.1', () => {
  const { address, port } = server.address();
  console.error(`tutorial server listening on ${address}:${port}`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
