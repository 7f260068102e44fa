// Compiled with the generated events.ts by tests/codegen/test_typescript.py: every line must type-check.
import { io, type Socket } from "socket.io-client";
import {
  type Attachment,
  type BinaryOut,
  type ClientToServerEvents,
  type ErrorAck,
  type HistoryJoinAck,
  type JoinAck,
  type PresenceJoinAck,
  type ServerToClientEvents,
  type ShareFile,
  type TaskUpdatedEvent,
  docRoom,
  positionStore,
  presenceIn,
  projectRoom,
  sprintBoardRoom,
  statusRoom,
  userRoom,
} from "./events.js";

const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io("http://localhost:8000", {
  auth: { token: "jwt" },
});

function describe(task: TaskUpdatedEvent): string {
  const shape = task.shape.kind === "circle" ? `r=${task.shape.radius}` : `side=${task.shape.side}`;
  const replies: number = task.comment.replies.map((reply) => reply.replies.length).length;
  const labels: string[] = task.labels.map((label) => `${label.name}/${label.color}`);
  const first: "red" | "green" | undefined = task.labels[0]?.color;
  const [x, y]: [number, number] = task.position;
  const count: number | undefined = task.counts["open"];
  const when: Date = new Date(task.updated_at);
  const due: string | null = task.due;
  const priority: 1 | 2 = task.priority;
  const status: string | number = task.status;
  const nothing: null = task.nothing;
  const extra: unknown = task.extra;
  const parts: unknown[] = [task.task_id, task.title, task.summary, task.createdBy, task.budget, shape, replies];
  parts.push(labels, first, x, y, count, when.toISOString(), due, priority, status, nothing, extra);
  parts.push(task.history.join(), task.tags.length, task.done ? "done" : task.state, task.points ?? 0, task.estimate);
  return parts.join(" ");
}

socket.on("task_updated", (task) => console.log(describe(task)));
socket.on("project.renamed", (event) => console.log(event.project_id, event.name));
socket.on("status", (event) => console.log(event.healthy, event.message?.toUpperCase()));
socket.on("session_expired", (event) => console.log(event.reason === "revoked" ? "revoked" : "expired"));

function joined(ack: JoinAck): string {
  return ack.ok ? ack.room : `${ack.error.code}: ${ack.error.message} ${ack.error.errors?.[0]?.loc.join(".") ?? ""}`;
}

socket.emit("join_project", { project_id: "42" }, (ack) => console.log(joined(ack)));
socket.emit("leave_project", { project_id: "42" }, (ack) => console.log(joined(ack)));
// sprint_board keeps history: a join may give the last position seen, and its ack says what was recovered.
const memory = new Map<string, string>();
const positions = positionStore({ getItem: (key) => memory.get(key) ?? null, setItem: (k, v) => memory.set(k, v) });
const boardRoom = sprintBoardRoom({ org: "acme", number: 3 });
function caughtUp(ack: HistoryJoinAck): void {
  if (!ack.ok) return;
  positions.remember({ [ack.room]: ack.position });
  console.log(ack.recovered ? ack.publications.map((p) => `${p.event}@${p.offset}`) : "reload");
}
socket.emit("join_sprint_board", { org: "acme", number: 3, since: positions.since(boardRoom) }, caughtUp);
socket.emit("join_sprint_board", { org: "acme", number: 3 }, caughtUp);
socket.on("status", (_event, roomPositions) => positions.remember(roomPositions));
socket.emit("history", { room: boardRoom, limit: 20 }, (ack) => {
  console.log(ack.ok ? ack.data.publications.length + ack.data.position.offset : ack.error.code);
});

// project is a presence room: its join ack lists the members, and presence_join / presence_leave arrive.
const members = new Map<string, object>();
function present(ack: PresenceJoinAck): void {
  if (ack.ok) ack.members.forEach((member) => members.set(member.user_id, member.info));
}
socket.emit("join_project", { project_id: "42" }, present);
socket.on("presence_join", (event) => members.set(event.member.user_id, event.member.info));
socket.on("presence_leave", (event) => members.delete(event.member.user_id) && console.log(event.room));
socket.emit("presence", { room: projectRoom({ project_id: "42" }) }, (ack) => {
  console.log(ack.ok ? ack.data.members.map((member) => member.user_id) : ack.error.code);
});

// --8<-- [start:presence]
// doc rooms type their members' info (DocRoom.presence_info returns a DocInfo); presenceIn narrows an event to them.
socket.emit("join_doc", { doc_id: "d1" }, (ack) => {
  if (ack.ok) ack.members.forEach((member) => console.log(member.info.name, member.info.color ?? "no color"));
});
socket.on("presence_join", (event) => {
  if (presenceIn(event, "doc")) console.log(event.member.info.name.toUpperCase(), event.room);
  else console.log(event.member.user_id, event.room);
});
socket.emit("presence", { room: docRoom({ doc_id: "d1" }) }, (ack) => {
  if (ack.ok && presenceIn(ack.data, "doc")) console.log(ack.data.members.map((member) => member.info.name));
});
// --8<-- [end:presence]
socket.emit("leave_sprint_board", { org: "acme", number: 3 }, (ack) => console.log(joined(ack)));
socket.emit("join_status", {}, (ack) => console.log(joined(ack)));
socket.emit("leave_status", {}, (ack) => console.log(joined(ack)));

socket.emit("update_task", { task_id: "6f1c", labels: [{ name: "bug" }, { name: "ui", color: "red" }] }, (ack) => {
  const version: number | ErrorAck = ack.ok ? ack.data.version : ack;
  console.log(version);
});
socket.emit("count_tasks", { project_id: "42" }, (ack) => console.log(ack.ok ? ack.data + 1 : ack.error.code));
socket.emit("heartbeat", {}, (ack) => console.log(ack.ok));

async function requests(): Promise<void> {
  const ack = await socket.timeout(5000).emitWithAck("update_task", { task_id: "6f1c", title: null, state: "closed" });
  if (ack.ok) {
    const id: string = ack.data.task_id;
    console.log(id);
  }
  socket.timeout(1000).emit("count_tasks", { project_id: "1" }, (err, reply) => console.log(err ?? reply.ok));
}

const project: `project:${string}` = projectRoom({ project_id: "42" });
const board: string = sprintBoardRoom({ org: "acme", number: 3 });
const status: "status" = statusRoom();
const user: string = userRoom({ user_id: "7" });
console.log(project, board, status, user, requests);

// Bytes fields: received as an ArrayBuffer (browser) or a Buffer, a Uint8Array (Node); sent as any of them or a Blob.
// --8<-- [start:bytes]
socket.on("file_shared", (event) => {
  const data: ArrayBuffer | Uint8Array = event.attachment.data;
  const size: number = data.byteLength + (event.thumbnail?.byteLength ?? 0);
  console.log(event.attachment.name, size);
});
const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
socket.emit("share_file", { project_id: "1", attachment: { name: "a.png", data: png } }, (ack) => {
  console.log(ack.ok && ack.data.size.toFixed(), ack.ok && ack.data.head.byteLength);
});
socket.emit("share_file", { project_id: "1", attachment: { name: "b", data: png.buffer }, parts: [new Blob(["x"])] }, () => {});
const upload: ShareFile<BinaryOut> = { project_id: "1", attachment: { name: "c", data: new DataView(png.buffer) } };
socket.emit("share_file", upload, () => {});
// --8<-- [end:bytes]
const received: Attachment = { name: "d", data: new ArrayBuffer(4) };
console.log(received.data.byteLength);
