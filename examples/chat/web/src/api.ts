// The demo's REST endpoints. Only the Socket.IO events are generated; these few shapes are written by hand.

export interface Session {
  token: string;
  user: string;
  name: string;
  expires_in: number;
}

export interface ChatInfo {
  id: string;
  title: string;
  private: boolean;
}

async function json<T>(response: Response): Promise<T> {
  if (!response.ok) {
    throw new Error(`${response.url}: HTTP ${response.status} ${await response.text()}`);
  }
  return (await response.json()) as T;
}

/** Development login: a fresh short-lived token for a demo user. */
export async function login(user: string): Promise<Session> {
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user }),
  });
  return json<Session>(response);
}

export async function users(): Promise<Record<string, string>> {
  return json<Record<string, string>>(await fetch("/api/users"));
}

export async function chats(): Promise<ChatInfo[]> {
  return json<ChatInfo[]>(await fetch("/api/chats"));
}
