// Opens a Spillover report.html in headless Chromium and reports, as one JSON object on stdout,
// what a reader would see: console errors and uncaught exceptions, dialogs (alert/confirm), the
// tables and their row counts, every chart's size and drawn elements (and whether its embedded
// images decode), and the sample explorer's counts before and after real mouse clicks on its
// filters. Takes a full-page screenshot.
//
// No dependencies: talks to Chromium over --remote-debugging-pipe (the DevTools protocol as
// NUL-separated JSON on file descriptors 3 and 4).
//
// Usage: node tools/browser_check.mjs --html FILE --screenshot OUT.png [--chromium PATH]
//        [--click BUTTON_TEXT ...]   (chips of the explorer to click, in order; counts after each)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const clicks = args.flatMap((a, i) => (a === "--click" ? [args[i + 1]] : []));
const html = opt("--html");
const shot = opt("--screenshot");
const chromium = opt("--chromium", process.env.SPILLOVER_CHROMIUM || "chromium");
if (!html || !shot) {
  console.error("usage: node browser_check.mjs --html FILE --screenshot OUT.png [--chromium PATH] [--click TEXT ...]");
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), "spillover-chromium-"));
const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  `--user-data-dir=${profile}`, "--remote-debugging-pipe", "--window-size=1280,900", "about:blank"];
const proc = spawn(chromium, flags, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
let stderr = "";
proc.stderr.on("data", (d) => { stderr += d; });
const fail = (msg) => {
  console.error(`browser_check: ${msg}\nchromium stderr (tail):\n${stderr.slice(-2000)}`);
  try { proc.kill("SIGKILL"); } catch (_) {}
  try { rmSync(profile, { recursive: true, force: true }); } catch (_) {}
  process.exit(1);
};
proc.on("error", (e) => fail(`cannot start ${chromium}: ${e.message}`));
const timer = setTimeout(() => fail("timed out after 90 s"), 90_000);

const out = proc.stdio[3];
const inp = proc.stdio[4];
let buf = Buffer.alloc(0);
let nextId = 0;
const pending = new Map();
const waiters = [];
const events = { consoleErrors: [], exceptions: [], dialogs: [], logErrors: [] };
inp.on("data", (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  let i;
  while ((i = buf.indexOf(0)) >= 0) {
    const msg = JSON.parse(buf.subarray(0, i).toString("utf8"));
    buf = buf.subarray(i + 1);
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { ok, ko } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? ko(new Error(JSON.stringify(msg.error))) : ok(msg.result);
    } else if (msg.method) {
      onEvent(msg);
    }
  }
});
function onEvent(m) {
  const p = m.params || {};
  if (m.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")) {
    events.consoleErrors.push(p.args.map((a) => a.value ?? a.description ?? "").join(" "));
  } else if (m.method === "Runtime.exceptionThrown") {
    events.exceptions.push(p.exceptionDetails?.exception?.description ?? p.exceptionDetails?.text ?? "exception");
  } else if (m.method === "Log.entryAdded" && p.entry?.level === "error") {
    events.logErrors.push(`${p.entry.source}: ${p.entry.text} ${p.entry.url ?? ""}`.trim());
  } else if (m.method === "Page.javascriptDialogOpening") {
    events.dialogs.push(`${p.type}: ${p.message}`);
    send("Page.handleJavaScriptDialog", { accept: false }, m.sessionId).catch(() => {});
  }
  for (const w of [...waiters]) {
    if (w.method === m.method) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(p);
    }
  }
}
function send(method, params = {}, sessionId) {
  return new Promise((ok, ko) => {
    const id = ++nextId;
    pending.set(id, { ok, ko });
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    out.write(JSON.stringify(msg) + "\0");
  });
}
const waitFor = (method) => new Promise((r) => waiters.push({ method, resolve: r }));

async function evaluate(session, expression) {
  const r = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, session);
  if (r.exceptionDetails) throw new Error(`evaluation failed: ${JSON.stringify(r.exceptionDetails)}`);
  return r.result.value;
}

// What the page shows, as plain data.
const INSPECT = `(async () => {
  const tables = {};
  for (const t of document.querySelectorAll("table")) {
    const r = t.getBoundingClientRect();
    tables[t.id || "(no id)"] = { rows: t.tBodies[0] ? t.tBodies[0].rows.length : 0, width: r.width, height: r.height };
  }
  const charts = [];
  for (const f of document.querySelectorAll("figure.chart")) {
    const svg = f.querySelector("svg");
    const r = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    const images = svg ? [...svg.querySelectorAll("image")] : [];
    let decoded = 0;
    for (const im of images) {
      const img = new Image();
      img.src = im.getAttribute("href");
      try { await img.decode(); if (img.naturalWidth > 0) decoded++; } catch (_) {}
    }
    charts.push({ id: f.dataset.chart, width: r.width, height: r.height,
      marks: svg ? svg.querySelectorAll("rect,circle,line,polyline,path,image").length : 0,
      images: images.length, decoded });
  }
  return { title: document.title, tables, charts, explorer: explorer(), pwned: window.__pwned ?? null };
})()`;
const EXPLORER = `function explorer() {
  const c = document.getElementById("ex-count");
  const cards = [...document.querySelectorAll("#ex-list article.sample")];
  return { exists: !!c, matching: c ? Number(c.dataset.matching) : -1, text: c ? c.textContent : "",
    cards: cards.length, benchmarks: [...new Set(cards.map((a) => a.dataset.benchmark))],
    cardText: cards.map((a) => a.textContent).join("\\n") };
}`;

try {
  await send("Target.setDiscoverTargets", { discover: false }).catch(() => {});
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId: s } = await send("Target.attachToTarget", { targetId, flatten: true });
  await send("Runtime.enable", {}, s);
  await send("Page.enable", {}, s);
  await send("Log.enable", {}, s);
  const loaded = waitFor("Page.loadEventFired");
  await send("Page.navigate", { url: pathToFileURL(resolve(html)).href }, s);
  await loaded;
  await evaluate(s, `window.explorer = ${EXPLORER}; true`);
  const initial = await evaluate(s, INSPECT);
  const after = [];
  for (const text of clicks) {
    const box = await evaluate(s, `(() => {
      const b = [...document.querySelectorAll(".chips button")].find((x) => x.textContent === ${JSON.stringify(text)});
      if (!b) return null;
      b.scrollIntoView({ block: "center" });
      const r = b.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    })()`);
    if (!box) {
      after.push({ click: text, found: false });
      continue;
    }
    for (const type of ["mouseMoved", "mousePressed", "mouseReleased"]) {
      await send("Input.dispatchMouseEvent", { type, x: box.x, y: box.y, button: "left", clickCount: 1 }, s);
    }
    const state = await evaluate(s, `explorer()`);
    const pressed = await evaluate(s, `[...document.querySelectorAll(".chips button[aria-pressed=true]")].map((b) => b.textContent)`);
    after.push({ click: text, found: true, pressed, ...state });
  }
  await evaluate(s, "window.scrollTo(0, 0); true");
  const metrics = await send("Page.getLayoutMetrics", {}, s);
  const size = metrics.cssContentSize || metrics.contentSize;
  const png = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true,
    clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.min(Math.ceil(size.height), 16000), scale: 1 } }, s);
  writeFileSync(shot, Buffer.from(png.data, "base64"));
  const pwned = await evaluate(s, "window.__pwned ?? null");
  const exited = new Promise((r) => { proc.once("exit", r); setTimeout(r, 5000); });
  await send("Browser.close").catch(() => {});
  await exited;
  clearTimeout(timer);
  try { rmSync(profile, { recursive: true, force: true }); } catch (_) {}
  // Exit only once stdout is flushed (a pipe is written asynchronously).
  const report = JSON.stringify({ ...events, initial, clicks: after, pwned, screenshot: resolve(shot) });
  process.stdout.write(report + "\n", () => process.exit(0));
} catch (e) {
  fail(e.stack || String(e));
}
