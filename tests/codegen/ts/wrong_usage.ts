// Compiled with the generated events.ts by tests/codegen/test_typescript.py. Each wrong line below is
// marked as an expected error: a line that compiles leaves its directive unused, which fails tsc.
import { io, type Socket } from "socket.io-client";
import {
  type ClientToServerEvents,
  type EventAck,
  type ServerToClientEvents,
  presenceIn,
  projectRoom,
  type TaskAck,
} from "./events.js";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://localhost:8000");

// @ts-expect-error unknown server event
socket.on("task_deleted", () => {});
// @ts-expect-error unknown client event
socket.emit("delete_task", { task_id: "1" }, () => {});
// @ts-expect-error no join handler for the personal user room
socket.emit("join_user", { user_id: "7" }, () => {});
// @ts-expect-error wrong field type in a join payload
socket.emit("join_project", { project_id: 42 }, () => {});
// @ts-expect-error missing key field
socket.emit("join_sprint_board", { org: "acme" }, () => {});
// @ts-expect-error unknown key field
socket.emit("join_project", { project_id: "1", extra: true }, () => {});
// @ts-expect-error missing ack argument
socket.emit("join_project", { project_id: "42" });
// @ts-expect-error missing ack argument on a client event
socket.emit("update_task", { task_id: "1" });
// @ts-expect-error wrong ack type
socket.emit("count_tasks", { project_id: "1" }, (ack: EventAck<string>) => console.log(ack));
// @ts-expect-error wrong ack type on a join
socket.emit("join_project", { project_id: "1" }, (ack: EventAck<TaskAck>) => console.log(ack));
// @ts-expect-error literal field outside its values
socket.emit("update_task", { task_id: "1", state: "archived" }, () => {});
// @ts-expect-error missing required field of a client event
socket.emit("update_task", { title: "x" }, () => {});
// @ts-expect-error enum outside its values in a nested model
socket.emit("update_task", { task_id: "1", labels: [{ name: "x", color: "blue" }] }, () => {});
// @ts-expect-error payload of an event without fields must be empty
socket.emit("heartbeat", { now: 1 }, () => {});
// @ts-expect-error wrong payload type in a handler
socket.on("project.renamed", (event: { name: number }) => console.log(event));
// @ts-expect-error room helper needs its key
projectRoom({});

socket.on("task_updated", (task) => {
  // @ts-expect-error wrong field type
  const title: number = task.title;
  // @ts-expect-error nullable field used as non-null
  const points: number = task.points;
  // @ts-expect-error the discriminated union must be narrowed first
  const radius: number = task.shape.radius;
  // @ts-expect-error tuples keep their length
  const third: number = task.position[2];
  // @ts-expect-error the alias is the wire name, not the Python field name
  const creator: string = task.created_by;
  // @ts-expect-error computed fields are read-only
  task.summary = "x";
  // @ts-expect-error int enum outside its values
  const priority: 3 = task.priority;
  // @ts-expect-error Any is unknown, not any
  const extra: string = task.extra;
  console.log(title, points, radius, third, creator, priority, extra);
});

socket.emit("count_tasks", { project_id: "1" }, (ack) => {
  // @ts-expect-error the ack must be narrowed on ok before reading data
  console.log(ack.data);
  if (!ack.ok) {
    // @ts-expect-error error codes are strings
    const code: number = ack.error.code;
    console.log(code);
  }
});
// @ts-expect-error a room without presence has no members in its join ack
socket.emit("join_status", {}, (ack) => console.log(ack.ok && ack.members));
// @ts-expect-error a room without history gets no position in its join ack
socket.emit("join_status", {}, (ack) => console.log(ack.ok && ack.position));
// @ts-expect-error a position's offset is a number
socket.emit("join_sprint_board", { org: "acme", number: 3, since: { offset: "7", epoch: "e" } }, () => {});
// @ts-expect-error presence events carry a member, not a user id
socket.on("presence_join", (event: { room: string; member: string }) => console.log(event));
// @ts-expect-error project rooms keep the default presence_info: their members' info has no name
socket.emit("join_project", { project_id: "1" }, (ack) => ack.ok && ack.members[0]?.info.name);
// @ts-expect-error a presence event may come from any presence room: narrow it with presenceIn first
socket.on("presence_join", (event) => event.member.info.name);
// @ts-expect-error narrowed to project rooms, the info has no name
socket.on("presence_leave", (event) => presenceIn(event, "project") && event.member.info.name);
// @ts-expect-error sprint_board is not a presence room
socket.on("presence_join", (event) => presenceIn(event, "sprint_board"));
// @ts-expect-error a doc member's name is a string
socket.emit("join_doc", { doc_id: "d1" }, (ack) => ack.ok && ack.members[0]?.info.name.toFixed());
// @ts-expect-error a bytes field is binary data, not a string (JSON text or base64)
socket.emit("share_file", { project_id: "1", attachment: { name: "a", data: "iVBORw0KGgo=" } }, () => {});
// @ts-expect-error a list of bytes takes no strings either
socket.emit("share_file", { project_id: "1", attachment: { name: "a", data: new Uint8Array() }, parts: ["x"] }, () => {});
// @ts-expect-error a received bytes field is an ArrayBuffer or a Uint8Array, never a string
socket.on("file_shared", (event) => event.attachment.data.toUpperCase());
// @ts-expect-error a Blob is only sent, never received: it has no byteLength
socket.on("file_shared", (event: { attachment: { data: Blob } }) => event);
// @ts-expect-error bytes in an ack arrive as binary data too
socket.emit("share_file", { project_id: "1", attachment: { name: "a", data: new Uint8Array() } }, (ack) => ack.ok && ack.data.head.trim());
