// driver.mjs: a line-oriented bridge from web_test.go to headless Chromium.
//
// It reads one JSON request a line on stdin and answers one JSON line on stdout:
//   {"id":1,"op":"open","url":"http://..."}            -> {"id":1,"ok":true,"value":"p1"}
//   {"id":2,"op":"eval","page":"p1","js":"<body>"}      -> the value of (async () => {<body>})()
//   {"id":3,"op":"wait","page":"p1","js":"<expr>","timeout":5000}  waits until expr is truthy
//   {"id":4,"op":"click"|"fill","page":"p1","selector":"#x","value":"..."}
//   {"id":5,"op":"screenshot","page":"p1","path":"/tmp/x.png"}
//   {"id":6,"op":"close","page":"p1"}
//   {"id":7,"op":"grant","origin":"http://...","permissions":["notifications"]}
//   {"id":8,"op":"swpush","page":"p1","origin":"http://...","data":"<text>"}  delivers a push
//     message to the origin's service worker (CDP ServiceWorker.deliverPushMessage):
//     what a push service would, without one (headless Chromium has none offline)
// Failures answer {"id":N,"ok":false,"error":"..."}. Console messages and page errors
// are sent as {"event":"console","page":"p1","text":"..."}.
//
// Environment: WEBTEST_CHROMIUM, the browser executable (Debian's /usr/bin/chromium;
// playwright's own browser download does not work here).
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const out = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");

// Playwright starts the browser with a new, empty profile directory of its own.
const browser = await chromium.launch({
  executablePath: process.env.WEBTEST_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 940 } });

const pages = new Map();
let seq = 0;

function page(id) {
  const p = pages.get(id);
  if (!p) throw new Error(`no page ${id}`);
  return p;
}

async function handle(req) {
  switch (req.op) {
    case "open": {
      const p = await context.newPage();
      const id = `p${++seq}`;
      pages.set(id, p);
      p.on("console", (m) => out({ event: "console", page: id, text: `${m.type()}: ${m.text()}` }));
      p.on("pageerror", (e) => out({ event: "console", page: id, text: `pageerror: ${e.message}` }));
      await p.goto(req.url);
      return id;
    }
    case "eval":
      return await page(req.page).evaluate(`(async () => {${req.js}\n})()`);
    case "wait":
      await page(req.page).waitForFunction(req.js, null, { timeout: req.timeout || 10000, polling: 50 });
      return true;
    case "click":
      await page(req.page).click(req.selector);
      return true;
    case "fill":
      await page(req.page).fill(req.selector, req.value);
      return true;
    case "screenshot":
      await page(req.page).screenshot({ path: req.path, fullPage: !!req.fullPage });
      return true;
    case "grant":
      await context.grantPermissions(req.permissions, { origin: req.origin });
      return true;
    case "swpush":
      return await deliverPush(page(req.page), req.origin, req.data);
    case "close":
      await page(req.page).close();
      pages.delete(req.page);
      return true;
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

// deliverPush hands data to the active service worker registered for origin, as
// its push event's data; it answers the registration's scope.
async function deliverPush(p, origin, data) {
  const cdp = await context.newCDPSession(p);
  try {
    const regs = new Map();
    cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => {
      for (const r of e.registrations) regs.set(r.registrationId, r);
    });
    await cdp.send("ServiceWorker.enable");
    for (let i = 0; i < 100; i++) {
      const reg = [...regs.values()].find((r) => !r.isDeleted && r.scopeURL.startsWith(origin));
      if (reg) {
        await cdp.send("ServiceWorker.deliverPushMessage", { origin, registrationId: reg.registrationId, data });
        return reg.scopeURL;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no service worker registration for ${origin}`);
  } finally {
    await cdp.detach().catch(() => {});
  }
}

out({ event: "ready", version: browser.version() });

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    out({ event: "console", text: `driver: bad request: ${e.message}` });
    return;
  }
  handle(req).then(
    (value) => out({ id: req.id, ok: true, value: value === undefined ? null : value }),
    (err) => out({ id: req.id, ok: false, error: String(err?.message ?? err) }),
  );
});
rl.on("close", async () => {
  await browser.close().catch(() => {});
  process.exit(0);
});
