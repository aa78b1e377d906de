// herald.js: the browser client of Herald, a WebSocket push engine (wire contract v1).
//
// An ES module without dependencies and without a build step. A Herald node serves it
// at /herald.js; npm-style projects install it as @herald/client. It runs in browsers
// and in Node.js 18+ (pass a WebSocket implementation where there is no global one).
//
//   import { Herald } from "/herald.js";
//   const herald = new Herald({
//     url: "wss://push.example.com/ws",
//     getToken: async () => (await fetch("/my/herald-token")).text(),
//   });
//   herald.on("push", (p) => console.log(p.data));
//   await herald.connect();
//
// The client keeps itself connected until close(): after a disconnect it reconnects
// with exponential backoff and jitter, resumes the user stream with ?since=<the last
// offset it saw> (or, before any push, the offset of the welcome frame), resubscribes
// its topics with their last offsets, and drops duplicate pushes by message id.

const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001; // node draining: reconnect after a random delay
const CLOSE_TOKEN_EXPIRED = 4001; // get a new token, reconnect
const CLOSE_POLICY = 4003; // fix the client: no retry
const CLOSE_TOO_MANY_SESSIONS = 4009; // close another session: no retry
const CLOSE_SERVICE_RESTART = 1012; // the operator asked for a reconnection: at once, with since
const CLOSE_DISCONNECTED = 4010; // disconnected by the operator: no retry without the user's action

const NAME = /^[A-Za-z0-9_.:@-]{1,128}$/;
const KINDS = ["webpush", "fcm", "apns"]; // push target kinds (docs/PROTOCOL.md section 9)
const OFFSET = /^(\d+)-(\d+)$/;

const DEFAULTS = {
  backoff: { min: 250, max: 10000 }, // ms; the n-th delay is random in [0, min(max, min*2^n)]
  drainDelay: 5000, // ms; after a 1001 the reconnect waits a random time in [0, drainDelay]
  connectTimeout: 10000, // ms from the attempt to the welcome frame
  dedupe: 10000, // message ids remembered per client to drop duplicates (0: off)
  ackInterval: 100, // ms; acks are sent at most this often, one frame per stream
  tokenMargin: 10000, // ms; a cached token this close to its exp claim is renewed first
};

/**
 * Compares two stream offsets ("<ms>-<seq>"): negative when a is before b, 0 when
 * equal, positive when after. "" (no offset) is before every offset.
 */
export function compareOffsets(a, b) {
  if (a === b) return 0;
  if (!a) return -1;
  if (!b) return 1;
  const ma = OFFSET.exec(a);
  const mb = OFFSET.exec(b);
  if (!ma || !mb) return a < b ? -1 : 1;
  return compareDigits(ma[1], mb[1]) || compareDigits(ma[2], mb[2]);
}

// compareDigits compares decimal strings exactly, whatever their size.
function compareDigits(a, b) {
  a = a.replace(/^0+(?=\d)/, "");
  b = b.replace(/^0+(?=\d)/, "");
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** An error of the client or an error frame of the node (code, reason, topic, ref). */
export class HeraldError extends Error {
  constructor(code, reason, extra = {}) {
    super(`herald: ${code}: ${reason}`);
    this.name = "HeraldError";
    this.code = code;
    this.reason = reason;
    Object.assign(this, extra);
  }
}

/** The events of a Herald client; the payload is in detail. */
export class HeraldEvent extends Event {
  constructor(type, detail) {
    super(type);
    this.detail = detail;
  }
}

/**
 * A connection to Herald that reconnects by itself.
 *
 * Events (listen with on(name, fn), which passes fn the detail, or addEventListener):
 * - "push": {id, offset, to | topic, from?, ts, data}: each message once;
 * - "recovered": {to | topic, complete}: a replay from history ended; complete is
 *   false when history no longer held everything after the resume offset;
 * - "state": {state, code?, reason?, delay?}: "connecting", "connected",
 *   "disconnected" (will retry after delay ms), "closed" (stopped; code and reason
 *   say why when it was not close());
 * - "error": {code, reason, topic?, ref?}: an error frame of the node (the session
 *   stays open), or a client-side failure (code "token", "bad_url");
 * - "welcome": {session, node, user, offset}; "subscribed": {topic, offset};
 *   "unsubscribed": {topic};
 *   "sent": {ref, id}; "duplicate": a push dropped as a duplicate.
 */
export class Herald extends EventTarget {
  #opts;
  #WS;
  #state = "idle";
  #stopped = true; // close() was called, or the client never started
  #conn = null; // the current attempt: {ws, opened, welcomed, start, timer}
  #retryTimer = null;
  #failures = 0; // consecutive failed attempts, for the backoff
  #token = "";
  #tokenStale = true;
  #offset = ""; // newest user-stream offset seen: the since of the next connection
  #topics = new Map(); // subscribed topics -> newest offset seen ("" = none yet)
  #seen = new Set(); // recipient + id of recent pushes, oldest first
  #ackUser = "";
  #ackTopics = new Map();
  #ackTimer = null;
  #lastAck = 0;
  #requests = new Map(); // ref -> {resolve, reject}: send, publish and the push target requests
  #subWaiters = new Map(); // topic -> [{resolve, reject}]
  #ready = null; // {promise, resolve, reject} of connect()
  #refSeq = 0;
  #session = "";
  #node = "";
  #user = "";
  #onOnline = () => {
    if (this.#retryTimer !== null) this.#retryNow();
  };

  /**
   * @param {object} options
   * @param {string} [options.url] the node's WebSocket endpoint, e.g. "wss://push.example.com/ws"
   *   (http/https URLs and paths are converted; default: /ws of the page's origin)
   * @param {string} [options.token] a JWT; without getToken the client cannot renew it
   * @param {() => Promise<string>|string} [options.getToken] returns a JWT; called for the
   *   first connection, after a 4001 (token expired), when the cached token is about to
   *   expire, and after an attempt that failed before the socket opened (a browser cannot
   *   tell a refused token, HTTP 401, from a network error)
   * @param {string} [options.device] sent as ?device= (acks become this device's cursor)
   * @param {string} [options.since] the user-stream offset to resume after (e.g. saved by the app)
   * @param {boolean} [options.autoAck] ack each push after its "push" listeners ran
   */
  constructor(options = {}) {
    super();
    if (!options.token && !options.getToken) {
      throw new TypeError("herald: a token or getToken is required");
    }
    if (options.since && !OFFSET.test(options.since)) {
      throw new TypeError(`herald: since ${JSON.stringify(options.since)} is not an offset like "1700000000000-0"`);
    }
    this.#opts = {
      ...DEFAULTS,
      ...options,
      backoff: { ...DEFAULTS.backoff, ...(options.backoff || {}) },
    };
    this.#WS = options.WebSocket || globalThis.WebSocket;
    if (!this.#WS) {
      throw new TypeError("herald: no WebSocket in this environment; pass options.WebSocket");
    }
    this.#token = options.token || "";
    this.#tokenStale = !options.token;
    this.#offset = options.since || "";
  }

  /** "idle", "connecting", "connected", "disconnected" or "closed". */
  get state() {
    return this.#state;
  }
  /** The newest user-stream offset seen: where a reconnection resumes. */
  get offset() {
    return this.#offset;
  }
  /** The subscribed topics and the newest offset seen on each ("" when none yet). */
  get topics() {
    return new Map(this.#topics);
  }
  /** The session id, node id and user of the newest welcome frame. */
  get session() {
    return { id: this.#session, node: this.#node, user: this.#user };
  }

  /** Calls fn(detail, event) on each event of that name; returns a function that stops it. */
  on(name, fn) {
    const listener = (e) => fn(e.detail, e);
    this.addEventListener(name, listener);
    return () => this.removeEventListener(name, listener);
  }

  /**
   * Starts the client (again, after close()). Resolves with the welcome frame's detail
   * once connected; rejects when the client stops before that (close(), 4003, 4009).
   */
  connect() {
    if (this.#state === "connected") return Promise.resolve(this.#welcomeDetail());
    const ready = this.#readyPromise();
    if (this.#stopped) {
      this.#stopped = false;
      this.#failures = 0;
      globalThis.addEventListener?.("online", this.#onOnline);
      this.#open();
    }
    return ready;
  }

  /** Stops the client: closes the connection with 1000 and does not reconnect. */
  close() {
    this.#stop("closed", undefined, undefined);
  }

  /** Drops the current connection and reconnects at once, resuming with since. */
  reconnect() {
    if (this.#stopped) return;
    const c = this.#conn;
    if (c?.ws) {
      c.manual = true;
      this.#abandon(c, "reconnect", 1000);
    } else if (!c) {
      this.#retryNow(); // waiting to retry: now; fetching a token: that attempt goes on
    }
  }

  /**
   * Joins topic; the node replays the topic's history after since first (when given).
   * The client remembers the topic and resubscribes after every reconnection from the
   * newest offset it saw on it. Resolves when the node answers "subscribed"; rejects
   * with a HeraldError for the node's error frame (e.g. code "forbidden").
   */
  subscribe(topic, { since } = {}) {
    checkName("topic", topic);
    if (since && !OFFSET.test(since)) throw new TypeError("herald: since is not an offset");
    if (!this.#topics.has(topic) || since) this.#topics.set(topic, since || "");
    const p = new Promise((resolve, reject) => {
      const list = this.#subWaiters.get(topic) || [];
      list.push({ resolve, reject });
      this.#subWaiters.set(topic, list);
    });
    p.catch(() => {}); // a caller that does not await it gets no unhandled rejection
    if (this.#state === "connected") this.#write({ type: "subscribe", topic, since: this.#topics.get(topic) || undefined });
    return p;
  }

  /** Leaves topic and forgets it. */
  unsubscribe(topic) {
    checkName("topic", topic);
    this.#topics.delete(topic);
    this.#ackTopics.delete(topic);
    this.#settleSub(topic, new HeraldError("unsubscribed", "unsubscribed before the node answered", { topic }));
    if (this.#state === "connected") this.#write({ type: "unsubscribe", topic });
  }

  /**
   * Tells the node that the user stream (or topic's stream) was handled up to offset:
   * it counts as delivered and, for a session with a device, becomes the device's
   * cursor. Acks are batched: at most one frame per stream every ackInterval ms; acks
   * made while disconnected are sent after the next welcome.
   */
  ack(offset, topic) {
    if (!OFFSET.test(String(offset))) throw new TypeError("herald: ack needs an offset like \"1700000000000-0\"");
    if (topic !== undefined) checkName("topic", topic);
    this.#queueAck(offset, topic);
  }

  /** Sends data upstream to the product's backend; resolves with the stored entry id. */
  send(data, { ref } = {}) {
    return this.#request({ type: "send", ref, data });
  }

  /** Publishes data to topic (where the topic policy allows); resolves with the entry id. */
  publish(topic, data, { ref } = {}) {
    checkName("topic", topic);
    return this.#request({ type: "publish", topic, ref, data });
  }

  // ---- push targets (docs/PROTOCOL.md section 9) ----

  /**
   * Registers this device's push target, where Herald notifies it when a push to
   * the user was not acknowledged in time: a browser PushSubscription (or its
   * toJSON(): {endpoint, keys}), or a target object {kind: "webpush", endpoint, keys},
   * {kind: "fcm", token} or {kind: "apns", token}. It replaces the device's target of
   * the same kind. The session needs a device (the token's device claim, or the
   * device option). Resolves once the node stored it; rejects with a HeraldError
   * (code "bad_frame" with the reason for a bad target, "forbidden" without a device,
   * "unavailable" when Redis failed: retry).
   */
  register(target) {
    let t;
    try {
      t = pushTarget(target);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#ask({ type: "register", target: t }).then(() => undefined);
  }

  /** Removes this device's push target of kind ("webpush", "fcm" or "apns"). */
  unregister(kind) {
    if (!KINDS.includes(kind)) {
      return Promise.reject(new TypeError(`herald: unknown push target kind ${JSON.stringify(kind)} (webpush, fcm or apns)`));
    }
    return this.#ask({ type: "unregister", kind }).then(() => undefined);
  }

  /**
   * Lists the push targets of the user's devices: [{device, kind, registered}]
   * (registered: unix ms). The targets themselves stay on the server.
   */
  async targets() {
    const f = await this.#ask({ type: "targets" });
    return Array.isArray(f.targets) ? f.targets : [];
  }

  /**
   * Subscribes this browser to Web Push through the page's service worker
   * registration (navigator.serviceWorker.register("/herald-sw.js") for Herald's
   * sample worker) with the node's VAPID public key (push.webpush.vapid_public_key,
   * base64url), and registers the subscription. An existing subscription of the
   * registration is reused. Resolves with the PushSubscription. Needs the
   * notification permission (the browser asks the user).
   */
  async registerWebPush(registration, vapidPublicKey) {
    let sub = await registration.pushManager.getSubscription();
    if (!sub) {
      sub = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64urlBytes(vapidPublicKey),
      });
    }
    await this.register(sub);
    return sub;
  }

  // ---- connection ----

  async #open() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#stopped) return;
    this.#setState("connecting");
    const conn = { ws: null, opened: false, welcomed: false, start: 0, timer: null, manual: false };
    this.#conn = conn;
    let token;
    try {
      token = await this.#currentToken();
    } catch (err) {
      if (this.#conn !== conn) return;
      this.#conn = null;
      this.#emit("error", { code: "token", reason: errorText(err) });
      this.#retry(this.#backoff(), { code: "token", reason: errorText(err) });
      return;
    }
    if (this.#conn !== conn || this.#stopped) return;
    let ws;
    try {
      ws = new this.#WS(this.#url(token));
    } catch (err) {
      this.#conn = null;
      this.#emit("error", { code: "bad_url", reason: errorText(err) });
      this.#stop("closed", "bad_url", errorText(err));
      return;
    }
    conn.ws = ws;
    conn.timer = setTimeout(() => this.#abandon(conn, "no welcome within connectTimeout", 0), this.#opts.connectTimeout);
    ws.onopen = () => {
      conn.opened = true;
      conn.start = Date.now();
    };
    ws.onmessage = (e) => {
      if (this.#conn === conn && typeof e.data === "string") this.#onMessage(conn, e.data);
    };
    // A close event follows an error in browsers; some implementations (Node.js 20's
    // experimental WebSocket on a refused connection) never send it.
    ws.onerror = () => this.#closeLater(conn, "connection failed", conn.opened ? 2000 : 50);
    ws.onclose = (e) => this.#onClose(conn, e.code, e.reason);
  }

  // abandon closes conn's socket and ends the attempt after ms even when no close
  // event comes.
  #abandon(conn, reason, ms) {
    if (conn.ws) closeQuietly(conn.ws, CLOSE_NORMAL, reason);
    this.#closeLater(conn, reason, ms);
  }

  #closeLater(conn, reason, ms) {
    setTimeout(() => this.#onClose(conn, 1006, reason), ms);
  }

  async #currentToken() {
    const o = this.#opts;
    if (o.getToken && (this.#tokenStale || !this.#token || expiresWithin(this.#token, o.tokenMargin))) {
      const t = await o.getToken();
      if (typeof t !== "string" || t === "") throw new Error("getToken returned no token");
      this.#token = t;
      this.#tokenStale = false;
    }
    return this.#token;
  }

  #url(token) {
    const base = globalThis.location?.href;
    const u = new URL(this.#opts.url || "/ws", base);
    if (u.protocol === "http:") u.protocol = "ws:";
    if (u.protocol === "https:") u.protocol = "wss:";
    u.searchParams.set("token", token);
    if (this.#opts.device) u.searchParams.set("device", this.#opts.device);
    if (this.#offset) u.searchParams.set("since", this.#offset);
    else u.searchParams.delete("since");
    return u.toString();
  }

  #onClose(conn, code, reason) {
    clearTimeout(conn.timer);
    if (this.#conn !== conn) return; // an attempt that close() or reconnect() replaced
    this.#conn = null;
    this.#failRequests(new HeraldError("disconnected", "the connection ended before the node answered"));
    if (this.#stopped) return;
    if (conn.welcomed) this.#failures = 0;
    const info = { code, reason: reason || undefined };
    const up = conn.welcomed ? Date.now() - conn.start : 0;
    switch (code) {
      case CLOSE_POLICY:
      case CLOSE_TOO_MANY_SESSIONS:
        this.#stop("closed", code, reason || (code === CLOSE_POLICY ? "policy violation" : "too many sessions"));
        return;
      case CLOSE_DISCONNECTED:
        this.#stop("closed", code, reason || "disconnected by the operator");
        return;
      case CLOSE_SERVICE_RESTART:
        this.#retry(0, info);
        return;
      case CLOSE_TOKEN_EXPIRED:
        if (!this.#opts.getToken) {
          this.#stop("closed", code, "token expired, and there is no getToken to renew it");
          return;
        }
        this.#tokenStale = true;
        // At once with a new token, but not in a tight loop if new tokens expire at once too.
        this.#retry(up > 1000 ? 0 : this.#backoff(), info);
        return;
      case CLOSE_GOING_AWAY:
        this.#retry(Math.random() * this.#opts.drainDelay, info);
        return;
    }
    if (conn.manual) {
      this.#retry(0, info);
      return;
    }
    if (!conn.opened) this.#tokenStale = true; // perhaps a refused token (HTTP 401)
    this.#retry(this.#backoff(), info);
  }

  #retry(delay, info) {
    this.#setState("disconnected", { ...info, delay: Math.round(delay) });
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  #retryNow() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#open();
  }

  #backoff() {
    const { min, max } = this.#opts.backoff;
    const ceil = Math.min(max, min * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    return Math.random() * ceil;
  }

  #stop(state, code, reason) {
    const wasStopped = this.#stopped;
    this.#stopped = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    globalThis.removeEventListener?.("online", this.#onOnline);
    const c = this.#conn;
    this.#conn = null;
    if (c) {
      clearTimeout(c.timer);
      if (c.ws) closeQuietly(c.ws, CLOSE_NORMAL, "client closed");
    }
    const err = new HeraldError(code === undefined ? "closed" : String(code), reason || "the client was closed");
    this.#failRequests(err);
    for (const topic of [...this.#subWaiters.keys()]) this.#settleSub(topic, err);
    if (this.#ready) {
      this.#ready.reject(err);
      this.#ready = null;
    }
    if (wasStopped && this.#state === "closed") return;
    this.#setState(state, code === undefined ? {} : { code, reason });
  }

  #setState(state, extra = {}) {
    this.#state = state;
    this.#emit("state", { state, ...extra });
  }

  #readyPromise() {
    if (!this.#ready) {
      let resolve, reject;
      const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {});
      this.#ready = { promise, resolve, reject };
    }
    return this.#ready.promise;
  }

  // ---- frames ----

  #onMessage(conn, text) {
    // The node coalesces frames under load: one JSON object a line.
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      let f;
      try {
        f = JSON.parse(line);
      } catch {
        continue; // not JSON: skipped, like unknown frame types from a newer node
      }
      if (this.#conn !== conn) return; // a listener closed or replaced the connection
      this.#frame(conn, f);
    }
  }

  #frame(conn, f) {
    switch (f.type) {
      case "welcome":
        this.#welcome(conn, f);
        break;
      case "push":
        this.#push(f);
        break;
      case "recovered":
        this.#emit("recovered", pick(f, ["to", "topic", "complete"]));
        break;
      case "subscribed":
        // Where the subscription starts (since, or the topic's history top): a topic
        // without a push yet is resubscribed from there after a reconnect.
        if (this.#topics.get(f.topic) === "" && f.offset && OFFSET.test(f.offset)) this.#topics.set(f.topic, f.offset);
        this.#settleSub(f.topic);
        this.#emit("subscribed", pick(f, ["topic", "offset"]));
        break;
      case "unsubscribed":
        this.#emit("unsubscribed", { topic: f.topic });
        break;
      case "sent": {
        const r = this.#requests.get(f.ref);
        this.#requests.delete(f.ref);
        r?.resolve(f.id);
        this.#emit("sent", { ref: f.ref, id: f.id });
        break;
      }
      case "registered":
      case "unregistered":
      case "targets": {
        const r = this.#requests.get(f.ref);
        this.#requests.delete(f.ref);
        r?.resolve(f);
        break;
      }
      case "error": {
        const detail = pick(f, ["code", "reason", "topic", "ref"]);
        const err = new HeraldError(f.code, f.reason, pick(f, ["topic", "ref"]));
        if (f.ref !== undefined && this.#requests.has(f.ref)) {
          this.#requests.get(f.ref).reject(err);
          this.#requests.delete(f.ref);
        } else if (f.topic !== undefined && f.ref === undefined) {
          this.#settleSub(f.topic, err);
        }
        this.#emit("error", detail);
        break;
      }
    }
  }

  #welcome(conn, f) {
    clearTimeout(conn.timer);
    conn.welcomed = true;
    conn.start = Date.now();
    this.#session = f.session || "";
    this.#node = f.node || "";
    this.#user = f.user || "";
    // The position the session starts after: a client that has seen no push resumes
    // from it, so that nothing published while it is disconnected is lost.
    if (!this.#offset && f.offset && OFFSET.test(f.offset)) this.#offset = f.offset;
    for (const [topic, since] of this.#topics) {
      this.#write({ type: "subscribe", topic, since: since || undefined });
    }
    this.#setState("connected");
    const detail = this.#welcomeDetail();
    this.#emit("welcome", detail);
    if (this.#ready) {
      this.#ready.resolve(detail);
      this.#ready = null;
    }
    this.#flushAcks();
  }

  #welcomeDetail() {
    return { session: this.#session, node: this.#node, user: this.#user, offset: this.#offset };
  }

  #push(f) {
    const p = pick(f, ["id", "offset", "to", "topic", "from", "ts", "data"]);
    const user = p.to !== undefined;
    if (user) {
      if (compareOffsets(this.#offset, p.offset) < 0) this.#offset = p.offset;
    } else if (this.#topics.has(p.topic) && compareOffsets(this.#topics.get(p.topic), p.offset) < 0) {
      this.#topics.set(p.topic, p.offset);
    }
    const key = (user ? "u" : "t:" + p.topic) + "\n" + p.id;
    if (this.#remember(key)) this.#emit("push", p);
    else this.#emit("duplicate", p);
    if (this.#opts.autoAck && p.offset && this.#state !== "closed") {
      if (user || this.#topics.has(p.topic)) this.#queueAck(p.offset, user ? undefined : p.topic);
    }
  }

  // remember reports whether key is new, remembering it; the set forgets the oldest.
  #remember(key) {
    const max = this.#opts.dedupe;
    if (!(max > 0)) return true;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    if (this.#seen.size > max) this.#seen.delete(this.#seen.values().next().value);
    return true;
  }

  #settleSub(topic, err) {
    const list = this.#subWaiters.get(topic);
    if (!list) return;
    this.#subWaiters.delete(topic);
    for (const w of list) (err ? w.reject(err) : w.resolve({ topic }));
  }

  #queueAck(offset, topic) {
    if (topic === undefined) {
      if (compareOffsets(this.#ackUser, offset) < 0) this.#ackUser = offset;
    } else if (compareOffsets(this.#ackTopics.get(topic) || "", offset) < 0) {
      this.#ackTopics.set(topic, offset);
    }
    if (this.#ackTimer !== null || this.#state !== "connected") return;
    const wait = Math.max(0, this.#lastAck + this.#opts.ackInterval - Date.now());
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = null;
      this.#flushAcks();
    }, wait);
  }

  #flushAcks() {
    if (this.#state !== "connected") return;
    if (this.#ackUser) {
      if (!this.#write({ type: "ack", offset: this.#ackUser })) return;
      this.#ackUser = "";
    }
    for (const [topic, offset] of this.#ackTopics) {
      if (!this.#write({ type: "ack", topic, offset })) return;
      this.#ackTopics.delete(topic);
    }
    this.#lastAck = Date.now();
  }

  #request(frame) {
    if (frame.data === undefined || frame.data === null) {
      return Promise.reject(new TypeError("herald: data is required"));
    }
    return this.#ask(frame);
  }

  // ask sends frame with a ref (frame.ref or a new one) and resolves with the
  // node's answer to it: the entry id of a sent frame, the frame of the others.
  #ask(frame) {
    const ref = frame.ref || `r${++this.#refSeq}-${Math.random().toString(36).slice(2, 8)}`;
    if (this.#state !== "connected") {
      return Promise.reject(new HeraldError("not_connected", "the client is not connected", { ref }));
    }
    const p = new Promise((resolve, reject) => this.#requests.set(ref, { resolve, reject }));
    p.catch(() => {});
    if (!this.#write({ ...frame, ref })) {
      this.#requests.delete(ref);
      return Promise.reject(new HeraldError("not_connected", "the connection is closing", { ref }));
    }
    return p;
  }

  #failRequests(err) {
    const pending = [...this.#requests.entries()];
    this.#requests.clear();
    for (const [ref, r] of pending) {
      r.reject(new HeraldError(err.code, err.reason, { ref }));
    }
  }

  #write(frame) {
    const ws = this.#conn?.ws;
    if (!ws || ws.readyState !== 1) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  #emit(name, detail) {
    this.dispatchEvent(new HeraldEvent(name, detail));
  }
}

// pushTarget turns what register() takes into the register frame's target.
function pushTarget(t) {
  if (t && typeof t.toJSON === "function" && typeof t.endpoint === "string") t = t.toJSON(); // a PushSubscription
  if (!t || typeof t !== "object") throw new TypeError("herald: register needs a target object or a PushSubscription");
  if (t.kind === undefined && typeof t.endpoint === "string") {
    // A subscription's JSON: only what the node stores (not expirationTime).
    return { kind: "webpush", endpoint: t.endpoint, keys: t.keys && { p256dh: t.keys.p256dh, auth: t.keys.auth } };
  }
  if (!KINDS.includes(t.kind)) {
    throw new TypeError(`herald: unknown push target kind ${JSON.stringify(t.kind)} (webpush, fcm or apns)`);
  }
  return t;
}

// base64urlBytes decodes a VAPID key given as base64url text (what Herald's
// configuration holds); bytes are passed through.
function base64urlBytes(key) {
  if (typeof key !== "string") return key;
  const b64 = key.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function checkName(what, s) {
  if (typeof s !== "string" || !NAME.test(s)) {
    throw new TypeError(`herald: a ${what} is 1 to 128 bytes of [A-Za-z0-9_.:@-], got ${JSON.stringify(s)}`);
  }
}

function pick(f, keys) {
  const out = {};
  for (const k of keys) if (f[k] !== undefined) out[k] = f[k];
  return out;
}

function closeQuietly(ws, code, reason) {
  try {
    ws.close(code, reason);
  } catch {
    // already closing
  }
}

function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

// expiresWithin reports whether a JWT's exp claim is less than ms away (false when
// the token has no readable exp: the node decides).
function expiresWithin(token, ms) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    return typeof claims.exp === "number" && claims.exp * 1000 - Date.now() < ms;
  } catch {
    return false;
  }
}

export default Herald;
