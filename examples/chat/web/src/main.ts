// The chat page: every Socket.IO event below is typed by ./generated/events.ts, generated from the Python models,
// and checked at run time by ./generated/events.zod.ts: a payload that does not match never reaches the code below.
import { io, type Socket } from "socket.io-client";
import {
  chatRoom,
  type ClientToServerEvents,
  type ErrorAck,
  type MessageEvent,
  positionStore,
  presenceIn,
  type Publication,
  type ServerToClientEvents,
  type UserTypingEvent,
} from "./generated/events";
import { type InvalidPayload, type ValidatedSocket, validateSocket } from "./generated/events.zod";
import * as api from "./api";
import { byId, h, replaceChildren } from "./dom";

type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
type Transport = "polling" | "websocket";

const params = new URLSearchParams(location.search);
const TRANSPORTS: Record<string, Transport[]> = { polling: ["polling"], websocket: ["websocket"] };
const IDLE_TYPING_MS = 3000;
const HISTORY_LIMIT = 50;
// The last position seen in each chat's stream, kept across reloads: a rejoin asks for exactly what it missed.
const positions = positionStore();

const state = {
  me: "",
  names: {} as Record<string, string>,
  chats: [] as api.ChatInfo[],
  current: null as string | null, // the chat on screen
  joined: null as string | null, // the chat the server let us into
  messages: new Map<string, MessageEvent[]>(),
  typists: new Map<string, number>(), // user -> time the indicator runs out
  members: new Map<string, string>(), // user -> display name, of the people in the joined chat
  typingSentAt: 0,
  typingTtl: 4000,
  logins: 0,
  away: false, // the connection dropped: messages that arrive before it is back are the recovered ones
  recoveredCount: 0,
  wasJoined: null as string | null,
};

let events: ValidatedSocket; // the socket's typed events, parsed with zod before any listener sees them
let idleTimer: number | undefined;
let typingTimer: number | undefined;

const nameOf = (user: string): string => state.names[user] ?? user;
const titleOf = (chatId: string): string => state.chats.find((c) => c.id === chatId)?.title ?? chatId;

function linkTo(changes: Record<string, string | null>): string {
  const next = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) next.delete(key);
    else next.set(key, value);
  }
  return `?${next.toString()}`;
}

// ---- connection ---------------------------------------------------------------------------------------------------

function connect(user: string): ChatSocket {
  const socket: ChatSocket = io({
    transports: TRANSPORTS[params.get("transport") ?? ""] ?? ["polling", "websocket"],
    // A callback, not a fixed token: every (re)connection logs in again, so a restarted server (new secret) or an
    // expired token never strands the page.
    auth: (cb) => {
      api.login(user).then(
        (session) => {
          state.logins += 1;
          byId("logins").textContent = state.logins > 1 ? `tokens renewed: ${state.logins - 1}` : "";
          cb({ token: session.token });
        },
        () => cb({}), // the server answers "unauthorized" and the connect_error handler retries
      );
    },
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
  });
  events = validateSocket(socket, { onInvalid: reportInvalid });

  socket.on("connect", () => {
    setStatus("connected", "connected");
    showTransport(socket);
    socket.io.engine.once("upgrade", () => showTransport(socket));
    const wasAway = state.away;
    state.away = false;
    if (socket.recovered) {
      // The server restored this connection: same chats, and the missed messages arrived just before this.
      state.joined = state.wasJoined;
      const count = state.recoveredCount;
      showNotice(`Reconnected: ${count} missed message${count === 1 ? "" : "s"} recovered.`, "recovered");
      renderComposer();
      return;
    }
    if (wasAway) showNotice("Reconnected after too long away: the chat was reloaded.", "reloaded");
    state.joined = null;
    if (state.current !== null) join(state.current); // a new connection is in no chat: join again
  });
  socket.on("disconnect", (reason) => {
    state.away = true;
    state.recoveredCount = 0;
    state.wasJoined = state.joined;
    state.joined = null;
    state.typists.clear();
    state.members.clear();
    renderTyping();
    renderMembers();
    renderComposer();
    // The server ended this session (e.g. its token expired): socket.io-client does not come back by itself.
    if (reason === "io server disconnect") {
      setStatus("reconnecting", "reconnecting…");
      socket.connect();
    } else {
      setStatus("reconnecting", `reconnecting… (${reason})`);
    }
  });
  socket.on("connect_error", (error) => {
    setStatus("offline", `cannot connect: ${error.message}`);
    // A refusal by the server (e.g. "unauthorized") stops socket.io-client's own retries; keep trying with a new login.
    if (!socket.active) window.setTimeout(() => socket.connect(), 2000);
  });
  events.on("session_expired", ({ reason }) => {
    setStatus("reconnecting", `session ended (${reason}); signing in again…`);
  });

  events.on("message", (message, roomPositions) => {
    positions.remember(roomPositions);
    if (state.away) state.recoveredCount += 1;
    addMessage(message);
  });
  events.on("user_typing", (event) => onTyping(event));
  // Who is in the joined chat: the join ack lists them, then presence_join / presence_leave keep the list live.
  events.on("presence_join", (event) => {
    if (presenceIn(event, "chat") && event.room === joinedRoom()) {
      state.members.set(event.member.user_id, event.member.info.name);
    }
    renderMembers();
  });
  events.on("presence_leave", (event) => {
    if (event.room === joinedRoom()) state.members.delete(event.member.user_id);
    renderMembers();
  });
  // The end-to-end tests drop the connection through this, as a network switch would.
  (window as unknown as { chatSocket: ChatSocket }).chatSocket = socket;
  return socket;
}

function addMessage(message: MessageEvent): void {
  {
    const list = state.messages.get(message.chat_id) ?? [];
    if (!list.some((m) => m.id === message.id)) list.push(message);
    // Live messages can overtake the history a page loads on joining: keep the chat in the order they were sent.
    list.sort((a, b) => Date.parse(a.sent_at) - Date.parse(b.sent_at));
    state.messages.set(message.chat_id, list);
    if (message.chat_id === state.current) {
      state.typists.delete(message.author);
      renderMessages();
      renderTyping();
    }
  }
}

function addPublications(publications: Publication[]): number {
  const messages = publications.filter((p) => p.event === "message").map((p) => p.data as MessageEvent);
  messages.forEach(addMessage);
  return messages.length;
}

function joinedRoom(): string | null {
  return state.joined === null ? null : chatRoom({ chat_id: state.joined });
}

function reportInvalid({ event, kind, issues }: InvalidPayload): void {
  // A server or proxy that does not speak these types: say so instead of rendering half a message.
  const where = issues.map((issue) => `${issue.path.join(".") || "payload"}: ${issue.message}`).join("; ");
  const invalid = byId("invalid");
  invalid.hidden = false;
  invalid.dataset.event = event;
  const what = kind === "ack" ? `reply to “${event}”` : `“${event}”`;
  invalid.textContent = `Ignored a malformed ${what} from the server (${where}).`;
  console.warn("eventbus: invalid", kind, event, issues);
}

function showTransport(socket: ChatSocket): void {
  byId("transport").textContent = socket.io.engine.transport.name;
}

function setStatus(kind: "connecting" | "connected" | "reconnecting" | "offline", text: string): void {
  const status = byId("status");
  status.dataset.state = kind;
  status.textContent = text;
}

// ---- chats ----------------------------------------------------------------------------------------------------------

function openChat(socket: ChatSocket, chatId: string): void {
  if (state.current === chatId) return;
  if (state.current !== null && state.joined === state.current && socket.connected) {
    events.emit("leave_chat", { chat_id: state.current }, () => undefined);
  }
  state.current = chatId;
  state.joined = null;
  state.typists.clear();
  state.members.clear();
  renderMembers();
  history.replaceState(null, "", linkTo({ chat: chatId }));
  showNotice(null);
  renderChats(socket);
  renderMessages();
  renderTyping();
  renderComposer();
  if (socket.connected) join(chatId);
}

function join(chatId: string): void {
  const room = chatRoom({ chat_id: chatId });
  // With this chat's messages on screen, ask for what came after them; a fresh page loads the last ones instead.
  const since = state.messages.has(chatId) ? positions.since(room) : undefined;
  events.emit("join_chat", { chat_id: chatId, since }, (ack) => {
    if (state.current !== chatId) return; // the user moved on meanwhile
    if (ack.ok) {
      state.joined = chatId;
      state.members = new Map(ack.members.map((member) => [member.user_id, member.info.name]));
      if (byId("notice").dataset.kind === "refusal") showNotice(null);
      positions.remember({ [ack.room]: ack.position });
      if (ack.recovered) {
        const count = addPublications(ack.publications);
        if (count > 0) showNotice(`${count} message${count === 1 ? "" : "s"} you missed, loaded.`, "recovered");
      } else {
        // First visit, or away for longer than the chat's history: start from its last messages.
        if (since !== undefined) state.messages.delete(chatId);
        events.emit("history", { room, limit: HISTORY_LIMIT }, (reply) => {
          if (reply.ok && state.current === chatId) addPublications(reply.data.publications);
        });
      }
      renderMessages();
      renderMembers();
    } else {
      state.joined = null;
      showNotice(refusal(chatId, ack), "refusal");
    }
    renderComposer();
  });
}

function refusal(chatId: string, ack: ErrorAck): string {
  const room = chatRoom({ chat_id: chatId });
  switch (ack.error.code) {
    case "forbidden":
      return `You are not a member of “${titleOf(chatId)}”: the server refused to let you join ${room}.`;
    case "unauthorized":
      return `You are not signed in, so you cannot join ${room}.`;
    default:
      return `Could not join ${room}: ${ack.error.message} (${ack.error.code}).`;
  }
}

function showNotice(text: string | null, kind: "info" | "refusal" | "recovered" | "reloaded" = "info"): void {
  const notice = byId("notice");
  notice.hidden = text === null;
  notice.textContent = text ?? "";
  notice.dataset.kind = text === null ? "" : kind;
}

// ---- sending --------------------------------------------------------------------------------------------------------

function send(text: string): void {
  const chatId = state.joined;
  if (chatId === null || text.trim() === "") return;
  events.emit("send_message", { chat_id: chatId, text }, (ack) => {
    if (!ack.ok) showNotice(`Your message was not sent: ${ack.error.message} (${ack.error.code}).`);
  });
  stopTyping();
}

function typed(text: string): void {
  const chatId = state.joined;
  if (chatId === null) return;
  if (text === "") {
    stopTyping();
    return;
  }
  // Tell the others again before their indicator runs out, not on every keystroke.
  if (Date.now() - state.typingSentAt > state.typingTtl / 2) {
    state.typingSentAt = Date.now();
    events.emit("typing", { chat_id: chatId, typing: true }, (ack) => {
      if (ack.ok) state.typingTtl = ack.data.ttl_ms;
    });
  }
  window.clearTimeout(idleTimer);
  idleTimer = window.setTimeout(() => stopTyping(), IDLE_TYPING_MS);
}

function stopTyping(): void {
  window.clearTimeout(idleTimer);
  if (state.typingSentAt === 0 || state.joined === null) return;
  state.typingSentAt = 0;
  events.emit("typing", { chat_id: state.joined, typing: false }, () => undefined);
}

function onTyping(event: UserTypingEvent): void {
  if (event.chat_id !== state.current || event.user === state.me) return;
  if (event.typing) state.typists.set(event.user, Date.now() + event.ttl_ms);
  else state.typists.delete(event.user);
  renderTyping();
}

// ---- rendering ------------------------------------------------------------------------------------------------------

function renderChats(socket: ChatSocket): void {
  const items = state.chats.map((chat) => {
    const button = h(
      "button",
      { type: "button", "data-chat": chat.id, class: chat.id === state.current ? "chat-link current" : "chat-link" },
      h("span", { class: "hash" }, "#"),
      h("span", { class: "title" }, chat.title),
      chat.private && h("span", { class: "private", title: "members only" }, "private"),
    );
    button.addEventListener("click", () => openChat(socket, chat.id));
    return h("li", {}, button);
  });
  replaceChildren(byId("chat-list"), items);
  byId("chat-title").textContent = state.current === null ? "" : titleOf(state.current);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function renderMessages(): void {
  const list = byId("messages");
  const messages = state.current === null ? [] : (state.messages.get(state.current) ?? []);
  const items = messages.map((m) =>
    h(
      "li",
      { class: m.author === state.me ? "message mine" : "message", "data-id": m.id, "data-author": m.author },
      h(
        "div",
        { class: "meta" },
        h("span", { class: "author" }, nameOf(m.author)),
        h("time", { datetime: m.sent_at }, timeFormat.format(new Date(m.sent_at))),
        m.via === "http" && h("span", { class: "via", title: "posted over the REST endpoint" }, "via HTTP"),
      ),
      h("p", { class: "text" }, m.text),
    ),
  );
  const empty = state.joined === state.current && h("li", { class: "empty" }, "No messages yet. Say hi!");
  replaceChildren(list, items.length > 0 ? items : [empty]);
  list.scrollTop = list.scrollHeight;
}

function renderTyping(): void {
  const now = Date.now();
  for (const [user, until] of state.typists) if (until <= now) state.typists.delete(user);
  const names = [...state.typists.keys()].map(nameOf).sort();
  const text =
    names.length === 0
      ? ""
      : names.length === 1
        ? `${names[0]} is typing…`
        : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]} are typing…`;
  byId("typing").textContent = text;
  window.clearTimeout(typingTimer);
  if (state.typists.size > 0) {
    const next = Math.min(...state.typists.values()) - now;
    typingTimer = window.setTimeout(renderTyping, Math.max(next, 50));
  }
}

function renderMembers(): void {
  const people = [...state.members.entries()].sort(([, a], [, b]) => a.localeCompare(b));
  const items = people.map(([id, name]) => h("li", { "data-user": id, class: id === state.me ? "me" : "" }, name));
  replaceChildren(byId("members"), items);
}

function renderComposer(): void {
  const ready = state.joined !== null && state.joined === state.current;
  byId<HTMLInputElement>("text").disabled = !ready;
  byId<HTMLButtonElement>("send").disabled = !ready;
  byId<HTMLInputElement>("text").placeholder = ready ? `Message ${titleOf(state.joined ?? "")}` : "Join a chat to write";
}

// ---- start ----------------------------------------------------------------------------------------------------------

async function showLogin(): Promise<void> {
  byId("login").hidden = false;
  const names = await api.users();
  const links = Object.entries(names).map(([id, name]) =>
    h("li", {}, h("a", { class: "user", href: linkTo({ user: id }), "data-user": id }, h("strong", {}, name), ` (${id})`)),
  );
  replaceChildren(byId("users"), links);
}

async function start(user: string): Promise<void> {
  [state.names, state.chats] = await Promise.all([api.users(), api.chats()]);
  state.me = user;
  byId("session").hidden = false;
  byId("app").hidden = false;
  byId("me").textContent = nameOf(user);
  byId<HTMLAnchorElement>("switch").href = linkTo({ user: null, chat: null });

  setStatus("connecting", "connecting…");
  const socket = connect(user);
  const form = byId<HTMLFormElement>("composer");
  const input = byId<HTMLInputElement>("text");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(input.value);
    input.value = "";
  });
  input.addEventListener("input", () => typed(input.value));
  openChat(socket, params.get("chat") ?? state.chats[0]?.id ?? "general");
}

const user = params.get("user");
(user === null ? showLogin() : start(user)).catch((error: unknown) => {
  showNotice(`The page could not start: ${String(error)}`);
  byId("app").hidden = false;
});
