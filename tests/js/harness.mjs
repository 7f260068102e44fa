// Drives the real socket.io-client for the Python tests: JSON commands on stdin, JSON lines on stdout.
//   argv[2]: {"url": ..., "namespace": "/admin" | null, "auth": {...} | null, "transports": ["websocket"], "extraHeaders": {...},
//             "reconnection": false (true: socket.io-client reconnects by itself, as on a page)}
//   stdin:   {"id": 1, "cmd": "emit", "event": "join_chat", "args": [...], "ack": true}
//            {"id": 2, "cmd": "set_token", "token": "..."} | {"id": 3, "cmd": "connect", "url": null} | {"id": 4, "cmd": "disconnect"}
//            {"id": 5, "cmd": "drop"} (closes the engine.io connection, not the socket: a lost network)
//   stdout:  {"type": "connect", "id": ..., "recovered": false} | {"type": "connect_error", "message": ...} | {"type": "event", "event": ..., "args": [...]}
//            {"type": "ack", "id": 1, "args": [...]} | {"type": "disconnect", "reason": ...} | {"type": "done", "id": 2}
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const options = JSON.parse(process.argv[2]);
const out = (message) => process.stdout.write(JSON.stringify(message) + "\n");

// The auth callback runs on every (re)connection, so "set_token" then "connect" is the browser's refresh flow.
let auth = options.auth ?? null;
// The namespace is the path of the URL, as a page writes io("https://host/admin").
const socket = io(options.url + (options.namespace && options.namespace !== "/" ? options.namespace : ""), {
  auth: (cb) => cb(auth ?? {}),
  transports: options.transports ?? ["websocket"],
  extraHeaders: options.extraHeaders ?? undefined,
  reconnection: options.reconnection ?? false,
  reconnectionDelay: 100,
  forceNew: true,
});

socket.on("connect", () => out({ type: "connect", id: socket.id, recovered: socket.recovered }));
socket.on("connect_error", (err) => out({ type: "connect_error", message: err.message, data: err.data ?? null }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
socket.onAny((event, ...args) => out({ type: "event", event, args }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.cmd === "emit") {
    if (command.ack) {
      socket.timeout(command.timeout ?? 5000).emit(command.event, ...command.args, (err, ...args) => {
        out(err ? { type: "ack_timeout", id: command.id } : { type: "ack", id: command.id, args });
      });
    } else {
      socket.emit(command.event, ...command.args);
      out({ type: "done", id: command.id });
    }
  } else if (command.cmd === "set_token") {
    auth = { token: command.token };
    out({ type: "done", id: command.id });
  } else if (command.cmd === "connect") {
    if (command.url) socket.io.uri = command.url; // another server process, as behind a load balancer
    socket.connect();
    out({ type: "done", id: command.id });
  } else if (command.cmd === "drop") {
    socket.io.engine.close();
    out({ type: "done", id: command.id });
  } else if (command.cmd === "disconnect") {
    socket.disconnect();
    out({ type: "done", id: command.id });
  }
}).on("close", () => {
  socket.disconnect();
  process.exit(0);
});
