import { io, Socket } from "socket.io-client";
import type { ClientToServerEvents, MessageEvent, ServerToClientEvents } from "./generated/events";

declare function fetchToken(): Promise<string>; // your login endpoint

// --8<-- [start:connect]
const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://127.0.0.1:8000", {
  auth: async (cb) => cb({ token: await fetchToken() }), // runs on every (re)connection: a fresh token each time
});
// --8<-- [end:connect]

socket.emit("join_chat", { chat_id: "42" }, (ack) => {
  if (!ack.ok) console.warn(ack.error.code); // "forbidden", "invalid_payload", ...
});

socket.on("message", (m: MessageEvent) => console.log(`${m.author}: ${m.text}`)); // m checked by tsc

socket.emit("send_message", { chat_id: "42", text: "hello" }, (ack) => {
  if (ack.ok) console.log("saved as", ack.data.id); // ack.data: MessageAck
});

// --8<-- [start:expiry]
// The server disconnects a connection whose token expired, after sending session_expired; socket.io-client
// does not reconnect after a server-side disconnect by itself. Reconnecting runs the auth callback again.
socket.on("session_expired", () => {
  socket.once("disconnect", () => socket.connect());
});
// session_ended says why: after the application's own reasons (a ban, "log out everywhere") the page should not
// reconnect (socket.io-client does not by itself); after "slow_consumer" it reconnects by itself: refetch state.
socket.on("session_ended", ({ reason }) => console.warn("session ended:", reason));
// --8<-- [end:expiry]
