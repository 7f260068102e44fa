// Compiled with events.ts and events.zod.ts by tests/codegen/test_zod.py, then run by Node against a fake socket:
// every line must type-check, and the JSON it prints says what the listeners, callbacks and onInvalid saw.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "./events.js";
import { type InvalidPayload, acks, clientToServer, serverToClient, validateSocket } from "./events.zod.js";

type Listener = (payload: unknown, ...rest: unknown[]) => void;

/** Just enough of a socket: `deliver` plays the server sending an event, `nextAck` the ack of the next emit. */
class FakeSocket {
  listeners = new Map<string, Listener[]>();
  nextAck: unknown = undefined;
  sent: unknown[] = [];
  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }
  off(event: string, listener: Listener): this {
    this.listeners.set(event, (this.listeners.get(event) ?? []).filter((one) => one !== listener));
    return this;
  }
  emit(event: string, payload: unknown, callback: (ack: unknown) => void): this {
    this.sent.push([event, payload]);
    callback(this.nextAck);
    return this;
  }
  deliver(event: string, payload: unknown, ...rest: unknown[]): void {
    for (const listener of this.listeners.get(event) ?? []) listener(payload, ...rest);
  }
}

const fake = new FakeSocket();
const socket = fake as unknown as Socket<ServerToClientEvents, ClientToServerEvents>;
const invalid: InvalidPayload[] = [];
const seen: unknown[] = [];
// --8<-- [start:validate]
const events = validateSocket(socket, { onInvalid: (report) => invalid.push(report) });

const stop = events.on("status", (status) => {
  // Only a payload that parsed gets here: status.healthy is a boolean at run time too.
  const healthy: boolean = status.healthy;
  const message: string | null = status.message;
  seen.push(["status", healthy, message]);
});
// --8<-- [end:validate]
events.on("project.renamed", (event, positions) => {
  seen.push(["project.renamed", event.project_id, event.name, positions?.["sprint_board:acme:1"]?.offset ?? null]);
});

fake.deliver("status", { healthy: true, message: null });
fake.deliver("status", { healthy: "yes", message: null });
fake.deliver("project.renamed", { project_id: "7", name: "Apollo", extra: 1 });
// An event of history rooms carries their positions after the payload: they reach the listener as they came.
fake.deliver("project.renamed", { project_id: "8", name: "Gemini" }, { "sprint_board:acme:1": { offset: 5, epoch: "e" } });
stop();
fake.deliver("status", { healthy: false, message: "after stop" });

fake.nextAck = { ok: true, data: { task_id: "0b7e7c4e-7a4e-4a53-9f35-2d4ed5c1b9a1", version: 3 } };
// --8<-- [start:ack]
events.emit("update_task", { task_id: "0b7e7c4e-7a4e-4a53-9f35-2d4ed5c1b9a1" }, (ack) => {
  seen.push(["update_task", ack.ok ? ack.data.version : ack.error.code]);
});
// --8<-- [end:ack]
fake.nextAck = { ok: true, data: { task_id: "t", version: "3" } };
events.emit("update_task", { task_id: "t" }, (ack) => seen.push(["update_task (never)", ack]));
fake.nextAck = { ok: false, error: { code: "forbidden", message: "no" } };
events.emit("join_project", { project_id: "42" }, (ack) => seen.push(["join_project", ack.ok ? ack.room : ack.error.code]));

const defaults = clientToServer.update_task.parse({ task_id: "t" });
const counted = acks.count_tasks.safeParse({ ok: true, data: 1.5 }).success;
const strict = serverToClient.status.safeParse({ healthy: true, message: null, extra: 1 }).success;
// A bytes field arrives as an ArrayBuffer in a browser, a Buffer (a Uint8Array) in Node; nothing else passes.
const shared = (data: unknown) =>
  serverToClient.file_shared.safeParse({ project_id: "1", attachment: { name: "a", data }, thumbnail: null }).success;
const binary = {
  arrayBuffer: shared(new ArrayBuffer(2)),
  uint8Array: shared(new Uint8Array(2)),
  dataView: shared(new DataView(new ArrayBuffer(2))),
  string: shared("AAE="),
  numbers: shared([0, 1]),
};

console.log(
  JSON.stringify({
    seen,
    invalid: invalid.map(({ event, kind, issues, payload }) => ({ event, kind, paths: issues.map((i) => i.path), payload })),
    defaults,
    counted,
    strict,
    binary,
  }),
);
