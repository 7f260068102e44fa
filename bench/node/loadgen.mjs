// The benchmark's load generator: many cheap Socket.IO clients in one Node process.
//
// Each client is a bare `ws` socket speaking Engine.IO 4 / Socket.IO 5 by hand
// (handshake "0{...}", connect "40", ping "2" -> pong "3", events "42[...]",
// acks "42<id>[...]" -> "43<id>[...]"), so a delivery costs the client one
// JSON.parse and a counter: far less than the server spends, which the CPU
// figures this process reports are there to prove.
//
// Driven by bench/run.py over stdin/stdout, one JSON object per line each way.
// Every command answers exactly once, and every wait is bounded.

import http from "node:http";
import { performance } from "node:perf_hooks";
import readline from "node:readline";
import WebSocket from "ws";

const now = () => performance.timeOrigin + performance.now();
const out = (message) => process.stdout.write(JSON.stringify(message) + "\n");

let clients = [];
let counts = new Int32Array(0);
let latencies = [];
let received = 0;
let firstSent = Infinity;
let lastReceived = 0;
let cpuMark = process.cpuUsage();
let onDelivery = null;

function onEvent(client, text) {
  const [, payload] = JSON.parse(text.slice(2));
  const at = now();
  counts[client.index] += 1;
  received += 1;
  latencies.push(at - payload.t);
  if (payload.t < firstSent) firstSent = payload.t;
  lastReceived = at;
  if (onDelivery !== null) onDelivery();
}

function onAck(client, text) {
  const open = text.indexOf("[");
  const id = Number(text.slice(2, open));
  const resolve = client.pending.get(id);
  client.pending.delete(id);
  if (resolve) resolve(JSON.parse(text.slice(open))[0]);
}

function onMessage(client, data) {
  const text = data.toString();
  switch (text.slice(0, 2)) {
    case "2":
      client.send("3");
      return;
    case "42":
      onEvent(client, text);
      return;
    case "43":
      onAck(client, text);
      return;
    case "40":
      client.ready();
      return;
    case "44":
    case "41":
      client.fail(new Error(`socket.io refused: ${text}`));
      return;
    default:
      if (text[0] === "0") client.ws.send(client.auth ? `40${JSON.stringify(client.auth)}` : "40");
  }
}

function emitWithAck(client, event, payload, timeoutMs = 10000) {
  const id = client.nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.pending.delete(id);
      reject(new Error(`no ack for ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    client.pending.set(id, (ack) => {
      clearTimeout(timer);
      resolve(ack);
    });
    client.send(`42${id}${JSON.stringify([event, payload])}`);
  });
}

// Called on the Socket.IO connect ("40"): join each room with an ack, then the client is ready.
function joinThenResolve(client, rooms, joinEvent, timer, resolve, reject) {
  return async () => {
    try {
      for (const key of rooms) {
        const ack = await emitWithAck(client, joinEvent, { key });
        if (!ack.ok) throw new Error(`join ${key} refused: ${JSON.stringify(ack)}`);
      }
      clearTimeout(timer);
      resolve(client);
    } catch (exc) {
      reject(exc);
    }
  };
}

function open(url, index, rooms, joinEvent, auth) {
  return new Promise((resolve, reject) => {
    // Like a browser, offer permessage-deflate; the server decides whether to use it.
    const ws = new WebSocket(`${url}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: true,
      handshakeTimeout: 10000,
    });
    // Bounded: a client not connected and joined within 20 s counts as failed instead of hanging the run.
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("not connected and joined within 20 s"));
    }, 20000);
    const client = { ws, index, auth, nextId: 0, pending: new Map(), fail: reject };
    client.send = (text) => ws.send(text);
    client.close = () => ws.terminate();
    client.ready = joinThenResolve(client, rooms, joinEvent, timer, resolve, reject);
    ws.on("message", (data) => onMessage(client, data));
    ws.on("error", reject);
  });
}

// Long-polling clients (Engine.IO 4 over HTTP): one GET always waiting for packets, a POST per packet sent.
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

function request(url, method, body = null) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { "content-type": "text/plain;charset=UTF-8" } }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (data += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`${method} ${res.statusCode}: ${data}`))));
    });
    req.setTimeout(60000, () => req.destroy(new Error(`${method} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

function openPolling(url, index, rooms, joinEvent, auth) {
  return new Promise((resolve, reject) => {
    const base = `${url.replace("ws", "http")}/socket.io/?EIO=4&transport=polling`;
    const client = { index, auth, nextId: 0, pending: new Map(), fail: reject, closed: false };
    const timer = setTimeout(() => {
      client.closed = true;
      reject(new Error("not connected and joined within 20 s"));
    }, 20000);
    // Packets are sent in order, one POST at a time (engine.io refuses overlapping POSTs of one session).
    let sending = Promise.resolve();
    client.send = (text) => {
      sending = sending.then(() => request(client.url, "POST", text)).catch((exc) => client.closed || client.fail(exc));
    };
    client.close = () => (client.closed = true);
    client.ready = joinThenResolve(client, rooms, joinEvent, timer, resolve, reject);
    const poll = async () => {
      while (!client.closed) {
        const body = await request(client.url, "GET");
        for (const packet of body.split("\x1e")) if (packet !== "6") onMessage(client, packet);
      }
    };
    request(base, "GET")
      .then((opened) => {
        client.url = `${base}&sid=${JSON.parse(opened.slice(1)).sid}`;
        client.send(auth ? `40${JSON.stringify(auth)}` : "40");
        return poll();
      })
      .catch((exc) => client.closed || reject(exc));
  });
}

async function connect({
  urls,
  clients: total,
  rooms,
  join_event: joinEvent,
  auth = null,
  auths = null, // one per client (each its own user), instead of one for all
  concurrency = 50,
  transport = "websocket",
}) {
  const opener = transport === "polling" ? openPolling : open;
  const started = now();
  const opened = new Array(total);
  let next = 0;
  let failed = 0;
  let error = null;
  const worker = async () => {
    while (next < total) {
      const index = next++;
      try {
        const clientAuth = auths ? auths[index % auths.length] : auth;
        opened[index] = await opener(urls[index % urls.length], index, rooms[index % rooms.length], joinEvent, clientAuth);
      } catch (exc) {
        failed += 1;
        error = String(exc);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clients = opened.filter(Boolean);
  counts = new Int32Array(total);
  return { connected: clients.length, failed, last_error: error, ms: now() - started };
}

function reset() {
  counts.fill(0);
  latencies = [];
  received = 0;
  firstSent = Infinity;
  lastReceived = 0;
  cpuMark = process.cpuUsage();
  return { ok: true };
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function stats(expectEach) {
  const cpu = process.cpuUsage(cpuMark);
  const sorted = Float64Array.from(latencies).sort();
  let min = Infinity;
  let max = 0;
  let missing = 0;
  let duplicated = 0;
  for (let i = 0; i < clients.length; i++) {
    const count = counts[clients[i].index];
    min = Math.min(min, count);
    max = Math.max(max, count);
    if (count < expectEach) missing += 1;
    if (count > expectEach) duplicated += 1;
  }
  const spanMs = lastReceived - firstSent;
  return {
    received,
    expected: expectEach * clients.length,
    per_client_min: min,
    per_client_max: max,
    clients_missing: missing,
    clients_duplicated: duplicated,
    span_ms: spanMs,
    deliveries_per_s: spanMs > 0 ? received / (spanMs / 1000) : null,
    p50_ms: percentile(sorted, 0.5),
    p99_ms: percentile(sorted, 0.99),
    p999_ms: percentile(sorted, 0.999),
    max_ms: percentile(sorted, 1),
    client_cpu_ms: (cpu.user + cpu.system) / 1000,
  };
}

async function wait({ expect_each: expectEach, timeout_ms: timeoutMs = 30000, settle_ms: settleMs = 200 }) {
  const total = expectEach * clients.length;
  if (received < total) {
    await new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        onDelivery = null;
        resolve();
      }
      onDelivery = () => received >= total && done();
    });
  }
  // Late extras are duplicates: give them a moment to show up before counting.
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  return stats(expectEach);
}

async function acks({ seconds, event, text }) {
  const cpu = process.cpuUsage();
  const rtts = [];
  const deadline = now() + seconds * 1000;
  const loop = async (client) => {
    while (now() < deadline) {
      const sent = now();
      const ack = await emitWithAck(client, event, { seq: rtts.length, text });
      if (!ack.ok) throw new Error(`ack refused: ${JSON.stringify(ack)}`);
      rtts.push(now() - sent);
    }
  };
  const started = now();
  await Promise.all(clients.map(loop));
  const elapsed = (now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const sorted = Float64Array.from(rtts).sort();
  return {
    round_trips: rtts.length,
    round_trips_per_s: rtts.length / elapsed,
    p50_ms: percentile(sorted, 0.5),
    p99_ms: percentile(sorted, 0.99),
    client_cpu_ms: (used.user + used.system) / 1000,
    seconds: elapsed,
  };
}

// A fixed schedule of client events with acks and of joins, spread over the clients, while the server paces
// broadcasts (their latencies are kept, for `wait`): each request's latency runs from the moment the schedule
// says it is due (no coordinated omission).
async function mixed({ seconds, event, text, ack_rate: ackRate, join_rate: joinRate, join_event: joinEvent }) {
  reset();
  const cpu = process.cpuUsage();
  const rtts = { ack: [], join: [] };
  const sent = { ack: 0, join: 0 };
  const rates = { ack: ackRate, join: joinRate };
  const inflight = [];
  let refused = 0;
  const started = now();
  const fire = (kind, due) => {
    const index = sent[kind];
    const client = clients[(index * 7919) % clients.length];
    const payload = kind === "ack" ? { seq: index, text } : { key: `m${index % 10}` };
    const reply = emitWithAck(client, kind === "ack" ? event : joinEvent, payload).then((ack) => {
      if (!ack.ok) refused += 1;
      rtts[kind].push(now() - due);
    });
    inflight.push(reply);
  };
  await new Promise((resolve) => {
    const timer = setInterval(() => {
      const at = now();
      for (const kind of ["ack", "join"]) {
        for (;;) {
          const due = started + (sent[kind] * 1000) / rates[kind];
          if (due > at || sent[kind] >= rates[kind] * seconds) break;
          fire(kind, due);
          sent[kind] += 1;
        }
      }
      if (at >= started + seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await Promise.all(inflight);
  const used = process.cpuUsage(cpu);
  const result = { refused, client_cpu_ms: (used.user + used.system) / 1000 };
  for (const [kind, values] of [["ack", rtts.ack], ["join", rtts.join]]) {
    const sorted = Float64Array.from(values).sort();
    result[`${kind}_count`] = values.length;
    result[`${kind}_p50_ms`] = percentile(sorted, 0.5);
    result[`${kind}_p99_ms`] = percentile(sorted, 0.99);
    result[`${kind}_p999_ms`] = percentile(sorted, 0.999);
  }
  return result;
}

const commands = { connect, reset, wait, acks, mixed };

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const { cmd, ...args } = JSON.parse(line);
  if (cmd === "close") break;
  try {
    out(await commands[cmd](args));
  } catch (exc) {
    out({ error: String(exc) });
  }
}
for (const client of clients) client.close();
process.exit(0);
