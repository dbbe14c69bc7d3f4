/**
 * The example's browser client: the `web` service that serves examples/web/ (and msgpackr's
 * browser build), then a real browser end to end: Debian's chromium, headless, driven by
 * playwright-core, loads the page the example serves, connects to the websocket gate, clicks
 * through handshake, set and get, reads the answers from the page and counts heartbeats.
 * The browser part skips, saying why, only when /usr/bin/chromium is absent (.ci/run installs it).
 */
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { examples, logFile, startExample, startRuntime } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** The example with the websocket gate only, every port picked by the system. */
/** The example over websocket alone, with its page. */
async function startWebExample(config: Record<string, unknown> = {}) {
  const { rt, log, portOf } = await startExample({ gate: "wsgate", ...config });
  const wsPort = await portOf(/Watchdog listen on ws:\/\/127\.0\.0\.1:(\d+)$/);
  const webPort = await portOf(/Web page at http:\/\/127\.0\.0\.1:(\d+)\/$/);
  return { rt, log, wsPort, page: `http://127.0.0.1:${webPort}/` };
}

describe("the web service", () => {
  it("serves the page, its script, msgpackr's browser build and the websocket gate's port; nothing else", async () => {
    const { page, wsPort } = await startWebExample();
    const get = (path: string, init?: RequestInit) => fetch(new URL(path, page), init);

    const index = await get("/");
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const html = await index.text();
    expect(html).toContain('<script src="msgpackr.js"></script>');
    expect(html).toContain('<script src="app.js"></script>');

    const app = await get("/app.js");
    expect(app.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await app.text()).toContain("new msgpackr.Packr({ useRecords: false })");
    // msgpackr's own UMD build, which defines the global the page uses.
    expect(await (await get("/msgpackr.js")).text()).toContain("global.msgpackr");
    expect(await (await get("/config.json")).json()).toEqual({ wsport: wsPort });

    expect((await get("/nope")).status).toBe(404);
    expect((await get("/%2e%2e/package.json")).status).toBe(404);
    expect((await get("/", { method: "POST", body: "x" })).status).toBe(405);
  });

  it("is not started when config web is false", async () => {
    // Runtime.start resolves once main's start function has finished: web would be running by then.
    const rt = await startRuntime({ servicePath: examples, start: "main", gate: "wsgate", wsport: 0, web: false, console: 0, logger: logFile().path });
    const names = (await rt.list()).map((r) => r.name);
    expect(names).toContain("wsgate");
    expect(names).not.toContain("web");
  });
});

describe("the browser client", () => {
  it("connects from chromium, does handshake, set and get through the page, and shows the heartbeats", { timeout: 60_000 }, async (ctx) => {
    if (!existsSync(CHROMIUM)) ctx.skip(`${CHROMIUM} is absent: install Debian's chromium (apt-get install chromium, as .ci/run does) to run the browser test`);
    const { rt, page: url } = await startWebExample({ heartbeat: 100 });

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
    onTestFinished(() => browser.close());
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => void (msg.type() === "error" && problems.push(`console error: ${msg.text()}`)));

    await page.goto(url);
    // The page connects by itself on load.
    await page.locator('#status[data-state="open"]').waitFor({ timeout: 10_000 });
    expect(await page.locator("#status").textContent()).toMatch(/^connected to ws:\/\/127\.0\.0\.1:\d+\/$/);

    const resultIs = (text: string) => page.locator("#result").filter({ hasText: new RegExp(`^${text.replace(/[{}()[\]"\\.*+?^$|]/g, "\\$&")}$`) }).waitFor({ timeout: 10_000 });
    await page.click("#handshake");
    await resultIs('{"msg":"Welcome to weft, I will send heartbeat every 0.1 sec."}');

    await page.fill("#key", "color");
    await page.fill("#value", "teal from chromium");
    await page.click("#set");
    await resultIs("{}");
    // The page really went through the server: simpledb has it.
    expect(await rt.call(".simpledb", "get", "color")).toBe("teal from chromium");

    await page.fill("#value", "");
    await page.click("#get");
    await resultIs('{"result":"teal from chromium"}');

    await page.waitForFunction("Number(document.querySelector('#heartbeats').textContent) >= 3", undefined, { timeout: 10_000 });

    await page.click("#quit");
    await page.locator("#status").filter({ hasText: "closed (code 1000)" }).waitFor({ timeout: 10_000 });
    expect(problems).toEqual([]);
  });
});
