// The load of `make soak` and of the connection-burst fault test, run by tests/soak.py and tests/faults: one Node
// process, so the clients do not share the Python event loop that samples the server and sends the broadcasts.
//   argv[2]: {"mode": "churn", "url": ..., "tokens": {user: token}, "clients": 200, "stallers": 3, "teams": [...],
//             "stallerTokens": [...], "stallRoom": "stall"}
//            {"mode": "burst", "url": ..., "tokens": [token, ...], "connects": 10000, "concurrency": 200, "connectTimeout": ms}
//   stdin:   "stop" (churn: finish the sessions under way) | "close" (burst: disconnect every connection)
//   stdout:  churn: {"type": "summary", "sessions": {ending: count}, "errors": {message: count}, "received": n}
//            burst: {"type": "burst", "connected": n, "refused": {message: count}, "seconds": s}, then {"type": "closed"}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";
import WebSocket from "ws";

const options = JSON.parse(process.argv[2]);
const out = (message) => process.stdout.write(JSON.stringify(message) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const commands = [];
let wake = null;
createInterface({ input: process.stdin })
  .on("line", (line) => {
    commands.push(line.trim());
    wake?.();
  })
  .on("close", () => {
    commands.push("stop", "close");
    wake?.();
  });

async function command(name) {
  while (!commands.includes(name)) await new Promise((resolve) => (wake = resolve));
}

// Why a session ended, as the churn slots and stalled readers choose it; "failed" counts sessions that went wrong.
const ENDINGS = ["clean", "abrupt", "reset", "kick", "garbage"];
const sessions = Object.fromEntries([...ENDINGS, "slow", "slow_notified", "failed"].map((name) => [name, 0]));
const errors = {};
let received = 0;
let stopping = false;

function failed(what, error) {
  sessions.failed += 1;
  const key = `${what}: ${error?.message ?? error}`.slice(0, 120);
  errors[key] = (errors[key] ?? 0) + 1;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function connect(token) {
  const socket = io(options.url, {
    auth: { token },
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    timeout: options.connectTimeout ?? 30000,
  });
  const connected = new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
  const ended = new Promise((resolve) => socket.once("disconnect", resolve));
  return { socket, connected, ended };
}

async function ack(socket, event, data) {
  return socket.timeout(10000).emitWithAck(event, data);
}

// A session's underlying TCP socket (engine.io-client's websocket transport runs on the ws package in Node).
const tcp = (socket) => socket.io.engine.transport.ws._socket;

async function session(token, ending, random) {
  const { socket, connected, ended } = connect(token);
  socket.onAny(() => (received += 1));
  try {
    await connected;
    const team = options.teams[Math.floor(random() * options.teams.length)];
    const joined = await ack(socket, "join_team", { team_id: team });
    if (!joined?.ok) throw new Error(`join_team answered ${JSON.stringify(joined)}`);
    const docs = 1 + Math.floor(random() * 3);
    for (let i = 0; i < docs; i++) {
      const sheet = await ack(socket, "join_sheet", { doc_id: String(i) });
      if (!sheet?.ok) throw new Error(`join_sheet answered ${JSON.stringify(sheet)}`);
    }
    const unknown = await ack(socket, "no_such_event", {});
    if (unknown?.ok !== false) throw new Error(`no_such_event answered ${JSON.stringify(unknown)}`);
    await sleep(50 + random() * 450);
    await ack(socket, "leave_team", { team_id: team });
    if (ending === "clean") {
      socket.disconnect();
    } else if (ending === "abrupt") {
      tcp(socket).destroy(); // FIN without a websocket close frame: a closed laptop lid, a killed tab
    } else if (ending === "reset") {
      tcp(socket).resetAndDestroy(); // RST: a crashed client or a NAT that forgot the connection
    } else if (ending === "kick") {
      const response = await fetch(`${options.url}/ops`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ops: [{ op: "disconnect", sid: socket.id }] }),
      });
      if (!response.ok) throw new Error(`/ops answered ${response.status}`);
      await withTimeout(ended, 10000, "kick");
    } else if (ending === "garbage") {
      // Truncated JSON with an ack id, straight onto the websocket: the server ends a connection that keeps at it.
      for (let i = 0; i < 30 && socket.connected; i++) socket.io.engine.transport.ws.send('425["x",nul');
      await withTimeout(ended, 10000, "garbage");
    }
    sessions[ending] += 1;
  } finally {
    socket.disconnect();
  }
}

// A deterministic generator per slot, so a run can be repeated (mulberry32).
function generator(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function churn(n) {
  const random = generator(n + 1);
  const users = Object.keys(options.tokens);
  while (!stopping) {
    const ending = ENDINGS[Math.floor(random() * ENDINGS.length)];
    try {
      await withTimeout(session(options.tokens[users[n % users.length]], ending, random), 30000, ending);
    } catch (error) {
      failed(ending, error);
    }
    await sleep(random() * 200);
  }
}

async function slowConsumers() {
  const response = await fetch(`${options.url}/stats`);
  return (await response.json()).slow_consumers;
}

// A raw engine.io websocket that joins the stall room (only stalled readers are in it; the soak sends it large
// broadcasts) and stops reading its TCP socket: the server must drop it as a slow consumer. When the server's count
// of slow consumers moves, it reads again to see whether it was the one dropped (its connection ends, after
// `session_ended` if that fitted); if not, it stalls again. Once dropped, another takes its place.
async function stall(token) {
  while (!stopping) {
    const url = options.url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
    // Without compression: the soak's padding deflates to almost nothing, and would never fill a buffer.
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let closed = false;
    let notified = false;
    ws.on("error", () => {});
    ws.on("close", () => (closed = true));
    try {
      await withTimeout(
        new Promise((resolve, reject) => {
          ws.on("close", () => reject(new Error("closed before it stalled")));
          ws.on("message", (data) => {
            const frame = data.toString();
            if (frame.startsWith("0")) ws.send("40" + JSON.stringify({ token }));
            else if (frame.startsWith("40")) ws.send(`420${JSON.stringify(["join_team", { team_id: options.stallRoom }])}`);
            else if (frame.startsWith("430")) resolve();
            else if (frame === "2") ws.send("3");
            else if (frame.includes('"session_ended"') && frame.includes("slow_consumer")) notified = true;
          });
        }),
        10000,
        "stall setup",
      );
      let before = await slowConsumers();
      ws.pause();
      const deadline = Date.now() + 60000;
      while (!stopping && !closed) {
        if (Date.now() > deadline) throw new Error("not dropped as a slow consumer within 60 s");
        await sleep(500);
        const count = await slowConsumers();
        if (count === before) continue;
        before = count;
        ws.resume();
        const until = Date.now() + 3000;
        while (!closed && Date.now() < until) await sleep(50);
        if (!closed) ws.pause();
      }
      if (closed) {
        sessions.slow += 1;
        if (notified) sessions.slow_notified += 1;
      }
    } catch (error) {
      failed("stall", error);
    } finally {
      ws._socket?.destroy();
    }
  }
}

async function runChurn() {
  const stallerTokens = options.stallerTokens ?? [];
  const tasks = [...Array(options.clients).keys()].map(churn);
  tasks.push(...stallerTokens.slice(0, options.stallers).map(stall));
  out({ type: "ready" });
  await command("stop");
  stopping = true;
  await Promise.all(tasks);
  out({ type: "summary", sessions, errors, received });
}

// Connects as fast as `concurrency` allows, holds every connection made, then waits for "close".
async function runBurst() {
  const held = [];
  const refused = {};
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < options.connects) {
      const i = next++;
      const attempt = connect(options.tokens[i % options.tokens.length]);
      try {
        held.push({ ...attempt, socket: await attempt.connected });
      } catch (error) {
        refused[error.message] = (refused[error.message] ?? 0) + 1;
        attempt.socket.disconnect();
      }
    }
  }
  await Promise.all([...Array(options.concurrency).keys()].map(worker));
  out({ type: "burst", connected: held.length, refused, seconds: (performance.now() - started) / 1000 });
  await command("close");
  for (const { socket } of held) socket.disconnect();
  out({ type: "closed" });
}

await (options.mode === "burst" ? runBurst() : runChurn());
process.exit(0);
