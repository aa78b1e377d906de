// Type declarations of herald.js (Herald's browser client, wire contract v1).

export type State = "idle" | "connecting" | "connected" | "disconnected" | "closed";

export interface Push {
  /** Message id: the publisher's id, or the ingress entry id. */
  id: string;
  /** Position in the recipient's history stream ("<ms>-<seq>"). */
  offset: string;
  /** The user it was addressed to (a user push). */
  to?: string;
  /** The topic it was published to (a topic push). */
  topic?: string;
  /** The sender's user id, when the publish had one. */
  from?: string;
  /** Publish time, unix ms. */
  ts: number;
  /** The payload, as published. */
  data: unknown;
}

export interface Recovered {
  to?: string;
  topic?: string;
  /** false: history no longer held everything after the resume offset; resync from your backend. */
  complete: boolean;
}

export interface StateChange {
  state: State;
  /** The close code (or "token", "bad_url") that caused a disconnected or closed state. */
  code?: number | string;
  reason?: string;
  /** disconnected: milliseconds until the next attempt. */
  delay?: number;
}

export interface ServerError {
  code: string;
  reason: string;
  topic?: string;
  ref?: string;
}

export interface Welcome {
  session: string;
  node: string;
  user: string;
  /** The user-stream offset the client resumes after. */
  offset: string;
}

export interface EventMap {
  push: Push;
  duplicate: Push;
  recovered: Recovered;
  state: StateChange;
  error: ServerError;
  welcome: Welcome;
  /** offset: where the subscription starts (since, or the topic's history top). */
  subscribed: { topic: string; offset?: string };
  unsubscribed: { topic: string };
  sent: { ref: string; id: string };
}

export interface Options {
  /** The node's WebSocket endpoint; default: /ws of the page's origin. */
  url?: string;
  /** A JWT. Without getToken, a 4001 (token expired) stops the client. */
  token?: string;
  /** Returns a JWT: for the first connection, after 4001, near the token's exp, after a failed upgrade. */
  getToken?: () => string | Promise<string>;
  /** Sent as ?device=: acks become this device's cursor. */
  device?: string;
  /** The user-stream offset to resume after. */
  since?: string;
  /** Ack each push after its listeners ran. Default false. */
  autoAck?: boolean;
  /** Reconnect backoff bounds in ms (full jitter). Default {min: 250, max: 10000}. */
  backoff?: { min?: number; max?: number };
  /** After a 1001 (node draining), reconnect after a random delay up to this (ms). Default 5000. */
  drainDelay?: number;
  /** From an attempt to the welcome frame (ms). Default 10000. */
  connectTimeout?: number;
  /** Message ids remembered to drop duplicates; 0: off. Default 10000. */
  dedupe?: number;
  /** Acks are sent at most this often (ms). Default 100. */
  ackInterval?: number;
  /** A cached token this close (ms) to its exp claim is renewed before connecting. Default 10000. */
  tokenMargin?: number;
  /** A WebSocket constructor, where there is no global one (e.g. the ws package). */
  WebSocket?: unknown;
}

/** A push target (docs/PROTOCOL.md section 9). */
export type PushTarget =
  | { kind: "webpush"; endpoint: string; keys: { p256dh: string; auth: string } }
  | { kind: "fcm"; token: string }
  | { kind: "apns"; token: string };

/** One of the user's registered targets, as targets() lists it. */
export interface RegisteredTarget {
  device: string;
  kind: "webpush" | "fcm" | "apns";
  /** Registration time, unix ms. */
  registered: number;
}

export class HeraldError extends Error {
  code: string;
  reason: string;
  topic?: string;
  ref?: string;
}

export class HeraldEvent<T = unknown> extends Event {
  detail: T;
}

export function compareOffsets(a: string, b: string): number;

export class Herald extends EventTarget {
  constructor(options: Options);
  readonly state: State;
  readonly offset: string;
  readonly topics: Map<string, string>;
  readonly session: { id: string; node: string; user: string };
  on<K extends keyof EventMap>(name: K, fn: (detail: EventMap[K], event: HeraldEvent<EventMap[K]>) => void): () => void;
  connect(): Promise<Welcome>;
  close(): void;
  reconnect(): void;
  subscribe(topic: string, options?: { since?: string }): Promise<{ topic: string }>;
  unsubscribe(topic: string): void;
  ack(offset: string, topic?: string): void;
  send(data: unknown, options?: { ref?: string }): Promise<string>;
  publish(topic: string, data: unknown, options?: { ref?: string }): Promise<string>;
  /** Registers this device's push target: a PushSubscription, its JSON, or a target object. */
  register(target: PushTarget | PushSubscription | { endpoint: string; keys: { p256dh: string; auth: string } }): Promise<void>;
  unregister(kind: "webpush" | "fcm" | "apns"): Promise<void>;
  targets(): Promise<RegisteredTarget[]>;
  /** Subscribes to Web Push through registration with the VAPID public key (base64url), then registers it. */
  registerWebPush(registration: ServiceWorkerRegistration, vapidPublicKey: string | BufferSource): Promise<PushSubscription>;
}

export default Herald;
