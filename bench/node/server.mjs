// The reference: a Node socket.io 4.8 server doing what bench/server.py does, under the same load.
//
// Usage: node bench/node/server.mjs PORT
// The control endpoint, POST /bench/emit {count, rooms, rate, text}, answers when every emit is done.

import http from "node:http";
import { performance } from "node:perf_hooks";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// Between two emits of a burst, let I/O run, as `await sio.emit(...)` does in Python.
const yieldToIo = () => new Promise((resolve) => setImmediate(resolve));

async function emitAll({ count, rooms, rate, text }) {
  const started = performance.now();
  const wallStarted = now();
  for (let seq = 0; seq < count; seq++) {
    const offset = rate ? (seq * 1000) / rate : 0;
    if (rate) {
      const delay = started + offset - performance.now();
      if (delay > 0) await sleep(delay);
    }
    // `t` is when the message was meant to leave (burst start or paced slot), as in bench/server.py.
    io.to(rooms).emit("bench", { seq, t: wallStarted + offset, rooms, text });
    await yieldToIo();
  }
  return { emitted: count, seconds: (performance.now() - started) / 1000 };
}

const server = http.createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  if (req.method === "POST" && req.url === "/bench/emit") {
    res.end(JSON.stringify(await emitAll(JSON.parse(body))));
  } else if (req.url === "/bench/ping") {
    res.end('{"ok":true}');
  } else {
    res.statusCode = 404;
    res.end();
  }
});

const io = new Server(server, { perMessageDeflate: false, serveClient: false });
io.on("connection", (socket) => {
  socket.on("join_bench", (payload, ack) => {
    const room = `bench:${payload.key}`;
    socket.join(room);
    ack({ ok: true, room });
  });
  socket.on("echo", (payload, ack) => ack({ ok: true, data: { seq: payload.seq } }));
});

server.listen(port, "127.0.0.1");
