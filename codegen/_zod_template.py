"""The hand-written parts of the generated ``events.zod.ts``: checks the schemas call, and the socket wrapper."""

from __future__ import annotations

BINARY = """\
/**
 * A bytes field as socket.io-client hands it over: an `ArrayBuffer` in a browser, a `Buffer` (a `Uint8Array`) in Node.
 * Checked with `instanceof`, which both have; a string (JSON text) is refused.
 */
const binary = z.custom<T.BinaryIn>(
  (value) => value instanceof ArrayBuffer || value instanceof Uint8Array,
  "must be binary data (an ArrayBuffer or a Uint8Array), sent as a Socket.IO attachment",
);
"""

LENGTH = """\
/** pydantic counts a string's length in code points; JavaScript's `length` counts UTF-16 units. */
function length(min: number, max: number): (text: string) => boolean {
  return (text) => {
    let count = 0;
    for (const _ of text) count += 1;
    return count >= min && count <= max;
  };
}
"""

DISTINCT = """\
/** A set on the Python side: no item twice (compared as JSON). */
function distinct(items: readonly unknown[]): boolean {
  return new Set(items.map((item) => JSON.stringify(item))).size === items.length;
}
"""

HELPER = """\
/** The ack type of a client event of `ClientToServerEvents`. */
export type Ack<F> = F extends (payload: never, callback: (ack: infer A) => void) => void ? A : never;

/** What `onInvalid` gets when an event or ack fails its schema. */
export interface InvalidPayload {
  /** The wire name of the event (for an ack, of the client event it answers). */
  event: string;
  /** `"event"` for an event the server sent, `"ack"` for the ack of a client event. */
  kind: "event" | "ack";
  /** Where and how the payload differs from its schema. */
  issues: z.ZodError["issues"];
  /** What arrived, as it arrived. */
  payload: unknown;
}

/** Options of `validateSocket`. */
export interface ValidateOptions {
  /** Called instead of the listener (or ack callback) when what arrived fails its schema. */
  onInvalid: (invalid: InvalidPayload) => void;
}

/** A socket whose listeners and ack callbacks see only payloads that passed their schema. */
export interface ValidatedSocket {
  /** The wrapped socket, for connect, disconnect and the rest of socket.io-client's API. */
  readonly socket: Socket<T.ServerToClientEvents, T.ClientToServerEvents>;
  /** Listen to a server event with a parsed payload; returns a function that stops listening. */
  on<E extends keyof T.ServerToClientEvents>(event: E, listener: T.ServerToClientEvents[E]): () => void;
  /** Send a client event; the callback gets the parsed ack. */
  emit<E extends keyof T.ClientToServerEvents>(event: E, ...args: Parameters<T.ClientToServerEvents[E]>): void;
}

type Untyped = {
  on(event: string, listener: (payload: unknown, ...rest: unknown[]) => void): unknown;
  off(event: string, listener: (payload: unknown, ...rest: unknown[]) => void): unknown;
  emit(event: string, payload: unknown, callback: (ack: unknown) => void): unknown;
};

/**
 * Wrap a socket so that every event and ack is parsed with its zod schema before your code sees it.
 *
 * Example:
 *   const events = validateSocket(io(url), { onInvalid: ({ event, issues }) => console.warn(event, issues) });
 *   events.on("message", (message) => render(message.text));
 */
export function validateSocket(
  socket: Socket<T.ServerToClientEvents, T.ClientToServerEvents>,
  options: ValidateOptions,
): ValidatedSocket {
  const raw = socket as unknown as Untyped;
  const parse = (event: string, kind: InvalidPayload["kind"], schema: z.ZodType, payload: unknown) => {
    const result = schema.safeParse(payload);
    if (!result.success) options.onInvalid({ event, kind, issues: result.error.issues, payload });
    return result;
  };
  return {
    socket,
    on(event, listener) {
      const name = String(event);
      const schema: z.ZodType = serverToClient[event];
      const deliver = listener as (payload: unknown, ...rest: unknown[]) => void;
      // What follows the payload (the room positions of an event of history rooms) is passed on as it came.
      const handler = (payload: unknown, ...rest: unknown[]) => {
        const result = parse(name, "event", schema, payload);
        if (result.success) deliver(result.data, ...rest);
      };
      raw.on(name, handler);
      return () => {
        raw.off(name, handler);
      };
    },
    emit(event, ...args) {
      const name = String(event);
      const schema: z.ZodType = acks[event];
      const [payload, callback] = args as unknown as [unknown, (ack: unknown) => void];
      raw.emit(name, payload, (ack: unknown) => {
        const result = parse(name, "ack", schema, ack);
        if (result.success) callback(result.data);
      });
    },
  };
}
"""
