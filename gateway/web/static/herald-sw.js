// herald-sw.js: a sample service worker that shows Herald's Web Push notifications.
//
// When a push to the user was not acknowledged by any of the user's devices in time,
// Herald sends the push frame (docs/PROTOCOL.md section 4) as the Web Push message:
//   {"type":"push","id":"...","offset":"...","to":"alice","ts":1700000000000,"data":{...}}
// This worker shows it as a notification, once per push id, and opens or focuses the
// app when the user clicks it. Copy it to your site (a service worker must come from
// the page's own origin), or serve it from a node at /herald-sw.js, and register it:
//
//   const reg = await navigator.serviceWorker.register("/herald-sw.js?title=title&body=text&url=link&open=/inbox");
//   await herald.registerWebPush(reg, VAPID_PUBLIC_KEY);
//
// Query parameters of the worker's URL choose the fields of the push's data:
//   title (default "title"): the notification's title; falls back to the app's name
//     (the "app" parameter, default "New message");
//   body (default "body"): its text; falls back to the data as text when data is a
//     string, else to nothing;
//   url (default "url"): the page to open on click; falls back to "open" (default "/");
//   icon (default "icon"): an icon URL in data, if any.
// A push whose id was already shown (a retry, or the same push on a second target of
// this browser) is not shown again: the notification's tag is the push id, and the
// ids of the last 200 notifications are kept in the Cache Storage, which outlives
// this worker's restarts.

const params = new URL(self.location.href).searchParams;
const field = (name) => params.get(name) || name;
const APP = params.get("app") || "New message";
const OPEN = params.get("open") || "/";
const SHOWN_CACHE = "herald-sw-shown";
const SHOWN_MAX = 200;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  event.waitUntil(showPush(readPush(event)));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data?.url || OPEN, self.location.origin).href;
  event.waitUntil(focusOrOpen(target));
});

// readPush parses the message: Herald's push frame, or anything else as the body.
function readPush(event) {
  let frame = null;
  try {
    frame = event.data ? event.data.json() : null;
  } catch {
    frame = { data: event.data ? event.data.text() : "" };
  }
  return frame && typeof frame === "object" ? frame : { data: frame };
}

async function showPush(frame) {
  const id = typeof frame.id === "string" ? frame.id : "";
  if (id && (await alreadyShown(id))) return;
  const data = frame.data;
  const obj = data && typeof data === "object" ? data : {};
  const title = text(obj[field("title")]) || APP;
  const body = text(obj[field("body")]) || (typeof data === "string" ? data : "");
  const options = { body, data: { url: text(obj[field("url")]) || OPEN, push: frame } };
  if (id) options.tag = id;
  const icon = text(obj[field("icon")]);
  if (icon) options.icon = icon;
  await self.registration.showNotification(title, options);
  if (id) await rememberShown(id);
}

function text(v) {
  return typeof v === "string" || typeof v === "number" ? String(v) : "";
}

// alreadyShown: a notification with this tag is on screen, or was shown before.
async function alreadyShown(id) {
  const open = await self.registration.getNotifications({ tag: id });
  if (open.length > 0) return true;
  const cache = await caches.open(SHOWN_CACHE);
  return (await cache.match(shownKey(id))) !== undefined;
}

async function rememberShown(id) {
  const cache = await caches.open(SHOWN_CACHE);
  await cache.put(shownKey(id), new Response(""));
  const keys = await cache.keys(); // in insertion order: forget the oldest
  for (const k of keys.slice(0, Math.max(0, keys.length - SHOWN_MAX))) await cache.delete(k);
}

function shownKey(id) {
  return new URL("/__herald_shown/" + encodeURIComponent(id), self.location.origin).href;
}

async function focusOrOpen(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const w of windows) {
    if (w.url === url && "focus" in w) return w.focus();
  }
  for (const w of windows) {
    if ("navigate" in w && "focus" in w) {
      await w.focus();
      return w.navigate(url).catch(() => self.clients.openWindow(url));
    }
  }
  return self.clients.openWindow(url);
}
