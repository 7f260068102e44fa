// Compiled with events.ts and events.zod.ts by tests/codegen/test_zod.py, then run by Node against a live server:
// `node zod_wire.js URL TOKEN` sends `share_file` with bytes, gets them back in `file_shared`, prints what it saw.
import { io, type Socket } from "socket.io-client";
import type { BinaryIn, ClientToServerEvents, ServerToClientEvents } from "./events.js";
import { type InvalidPayload, serverToClient, validateSocket } from "./events.zod.js";

declare const process: { argv: string[]; exit(code: number): never };

const [url, token] = process.argv.slice(2);
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, {
  auth: { token },
  transports: ["websocket"],
  reconnection: false,
  forceNew: true,
});
const invalid: InvalidPayload[] = [];
const events = validateSocket(socket, { onInvalid: (report) => invalid.push(report) });
const hex = (data: BinaryIn) =>
  Array.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data, (b) => b.toString(16).padStart(2, "0")).join("");
const seen: Record<string, unknown> = {};
const finish = () => {
  if (!("ack" in seen && "event" in seen)) return;
  socket.disconnect();
  console.log(JSON.stringify({ ...seen, invalid: invalid.map(({ event, issues }) => ({ event, issues })) }));
  process.exit(0);
};

events.on("file_shared", (event) => {
  const data: BinaryIn = event.attachment.data;
  // What arrived, as text: the schema must refuse it where bytes are due.
  const asText = { ...event, attachment: { ...event.attachment, data: hex(data) } };
  seen.event = {
    kind: data.constructor.name,
    uint8: data instanceof Uint8Array,
    data: hex(data),
    thumbnail: event.thumbnail === null ? null : hex(event.thumbnail),
    text_accepted: serverToClient.file_shared.safeParse(asText).success,
    issues: serverToClient.file_shared.safeParse(asText).error?.issues.map((issue) => [issue.path, issue.message]),
  };
  finish();
});
socket.on("connect", () => {
  const data = new Uint8Array([0, 1, 0x7f, 0x80, 0xfe, 0xff]);
  // An ArrayBuffer and a typed array: socket.io-client sends each as a binary attachment.
  events.emit("share_file", { project_id: "1", attachment: { name: "a.bin", data }, parts: [data.buffer] }, (ack) => {
    seen.ack = ack.ok ? { size: ack.data.size, head: hex(ack.data.head) } : ack.error;
    finish();
  });
});
socket.on("connect_error", (error) => {
  console.log(JSON.stringify({ connect_error: error.message }));
  process.exit(1);
});
