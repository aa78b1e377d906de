// The demo page of the embedded mode: sign in as any user name (the node mints a dev
// token), watch pushes arrive, publish to a user or a topic, drop the connection and
// watch the client resume from history.
import { Herald } from "/herald.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const wsURL = params.get("ws") || undefined; // default: /ws of this origin
// ?auto=1 signs in as ?user= (or the last user), subscribes to ?topic= (comma-separated,
// default news) and publishes a greeting there, without a click: a link that shows
// the page working.
const auto = params.get("auto") === "1";
const autoTopics = (params.get("topic") || "news").split(",").map((t) => t.trim()).filter(Boolean);
const NAME = /^[A-Za-z0-9_.:@-]{1,128}$/; // user and topic names (docs/PROTOCOL.md)

let herald = null;
let user = "";
let count = 0;
let dups = 0;
let welcomed = false;
let replaying = false; // between a resuming welcome and its recovered frame

async function postJSON(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(out.error || `HTTP ${res.status}`);
  return out;
}

function log(text, cls = "") {
  const li = document.createElement("li");
  const t = document.createElement("span");
  t.className = "t";
  t.textContent = new Date().toLocaleTimeString();
  li.append(t, text);
  if (cls) li.className = cls;
  $("log").prepend(li);
}

function showPush(p) {
  count++;
  $("count").textContent = count;
  $("empty").classList.add("hidden");
  const li = document.createElement("li");
  if (replaying) li.className = "replayed";
  const meta = document.createElement("div");
  meta.className = "meta";
  const fields = [
    [p.to !== undefined ? "to" : "topic", p.to ?? p.topic],
    ["from", p.from],
    ["id", p.id],
    ["offset", p.offset],
    ["at", new Date(p.ts).toLocaleTimeString()],
  ];
  if (replaying) fields.push(["", "replayed from history"]);
  for (const [k, v] of fields) {
    if (v === undefined) continue;
    const span = document.createElement("span");
    if (k) {
      const b = document.createElement("b");
      b.textContent = k + " ";
      span.append(b);
    }
    span.append(String(v));
    meta.append(span);
  }
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(p.data, null, 1);
  li.append(meta, pre);
  $("pushes").prepend(li);
}

function setState(s) {
  const el = $("state");
  el.textContent = s.state;
  el.className = "pill " + s.state;
  $("offline").textContent = s.state === "closed" ? "Go online" : "Go offline";
  let text = s.state;
  if (s.code !== undefined) text += ` (code ${s.code}${s.reason ? ": " + s.reason : ""})`;
  if (s.delay !== undefined) text += `, retry in ${s.delay} ms`;
  log(text, s.state);
}

function signIn(name) {
  user = name;
  localStorage.setItem("herald-demo-user", name);
  herald = new Herald({
    url: wsURL,
    getToken: async () => (await postJSON("/dev/token", { user })).token,
    autoAck: true,
  });
  herald.on("state", setState);
  herald.on("welcome", (w) => {
    replaying = welcomed;
    welcomed = true;
    $("session").textContent = w.session;
    $("node").textContent = w.node;
    $("offset").textContent = herald.offset || "–";
    log(`welcome: session ${w.session} on node ${w.node}, resuming after ${w.offset || "(live only)"}`, "connected");
  });
  herald.on("push", (p) => {
    showPush(p);
    $("offset").textContent = herald.offset || "–";
  });
  herald.on("duplicate", (p) => {
    dups++;
    $("dups").textContent = dups;
    log(`duplicate of ${p.id} dropped (offset ${p.offset})`);
  });
  herald.on("recovered", (r) => {
    replaying = false;
    const who = r.to !== undefined ? `user ${r.to}` : `topic ${r.topic}`;
    log(`recovered ${who}: ${r.complete ? "complete" : "INCOMPLETE: history no longer holds everything"}`, "recovered");
  });
  herald.on("error", (e) => log(`error ${e.code}: ${e.reason}${e.topic ? ` (topic ${e.topic})` : ""}`, "error"));
  herald.on("subscribed", (s) => log(`subscribed to ${s.topic}`));
  herald.connect().catch((err) => log(err.message, "error"));

  $("who").textContent = name;
  $("publish-to").value = name;
  $("cli-hint").textContent = `herald publish --to ${name} '{"text":"hi"}'`;
  $("signin-card").classList.add("hidden");
  $("app").classList.remove("hidden");
}

function signOut() {
  herald?.close();
  herald = null;
  welcomed = false;
  count = dups = 0;
  for (const id of ["pushes", "log", "topics"]) $(id).replaceChildren();
  $("count").textContent = $("dups").textContent = "0";
  $("empty").classList.remove("hidden");
  $("app").classList.add("hidden");
  $("signin-card").classList.remove("hidden");
}

function message(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

$("signin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  signIn($("user").value.trim());
});

$("publish-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { [$("publish-kind").value]: $("publish-to").value.trim(), data: message($("publish-data").value), from: user };
  const id = $("publish-id").value.trim();
  if (id) body.id = id;
  try {
    const out = await postJSON("/dev/publish", body);
    $("publish-result").textContent = `stored as ingress entry ${out.id}`;
  } catch (err) {
    $("publish-result").textContent = `not published: ${err.message}`;
  }
});

// subscribeTo adds a topic chip and subscribes; it resolves true once subscribed,
// false when the node refused or the topic was already there.
function subscribeTo(topic) {
  if (!herald || herald.topics.has(topic)) return Promise.resolve(false);
  const li = document.createElement("li");
  const x = document.createElement("button");
  x.type = "button";
  x.textContent = "×";
  x.title = "unsubscribe";
  x.onclick = () => {
    herald.unsubscribe(topic);
    li.remove();
  };
  li.append(topic, x);
  $("topics").append(li);
  return herald.subscribe(topic).then(
    () => true,
    (err) => {
      log(`subscribe ${topic}: ${err.code}: ${err.reason}`, "error");
      return false;
    },
  );
}

$("subscribe-form").addEventListener("submit", (e) => {
  e.preventDefault();
  subscribeTo($("topic").value.trim());
  $("topic").value = "";
});

// autoStart is ?auto=1: sign in, subscribe, and greet the first topic subscribed (or,
// when none is, the user), so that a push shows without a click.
async function autoStart() {
  const name = $("user").value.trim();
  if (!NAME.test(name)) return; // the sign-in form stays, with the bad name in it
  signIn(name);
  const topics = autoTopics.filter((t) => NAME.test(t));
  const ok = await Promise.all(topics.map(subscribeTo));
  const subscribed = topics.filter((_, i) => ok[i]);
  const to = subscribed.length ? { topic: subscribed[0] } : { to: name };
  const data = { text: `${name} is here: this page signed in and subscribed by itself (auto=1)` };
  try {
    await postJSON("/dev/publish", { ...to, data, from: name });
    log(`auto=1: signed in as ${name}, subscribed to ${subscribed.join(", ") || "no topic"}, published a greeting`);
  } catch (err) {
    log(`auto=1: greeting not published: ${err.message}`, "error");
  }
}

$("drop").addEventListener("click", () => {
  log("dropping the connection; the client reconnects with since");
  herald?.reconnect();
});

$("offline").addEventListener("click", () => {
  if (!herald) return;
  if (herald.state === "closed") herald.connect().catch((err) => log(err.message, "error"));
  else herald.close();
});

$("signout").addEventListener("click", signOut);

$("user").value = params.get("user") || localStorage.getItem("herald-demo-user") || "alice";
window.heraldDemo = { get client() { return herald; } }; // for the console and the tests
if (auto) autoStart();
