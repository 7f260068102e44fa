// Compiled by tests/codegen/test_zod.py: each line after a @ts-expect-error must fail to type-check.
import type { Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "./events.js";
import { validateSocket } from "./events.zod.js";

declare const socket: Socket<ServerToClientEvents, ClientToServerEvents>;

// @ts-expect-error onInvalid is required: a frontend that validates must decide what an invalid payload does
validateSocket(socket, {});
const events = validateSocket(socket, { onInvalid: () => undefined });
// @ts-expect-error no such event
events.on("no_such_event", () => undefined);
// @ts-expect-error the listener gets a StatusEvent, which has no field "nope"
events.on("status", (status) => status.nope);
// @ts-expect-error healthy is a boolean, not a string
events.on("status", (status) => status.healthy.toUpperCase());
// @ts-expect-error task_id is a string
events.emit("update_task", { task_id: 1 }, () => undefined);
// @ts-expect-error the ack of count_tasks carries a number
events.emit("count_tasks", { project_id: "1" }, (ack) => ack.ok && ack.data.toUpperCase());
// @ts-expect-error a client event needs its ack callback
events.emit("heartbeat", {});
// @ts-expect-error a bytes field takes binary data, not a string
events.emit("share_file", { project_id: "1", attachment: { name: "a", data: "AAEC" } }, () => undefined);
