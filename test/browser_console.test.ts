/**
 * A web page cannot drive the debug console: Debian's chromium, headless (playwright-core),
 * opens a page served from another origin (a local HTTP server on port 0) that tries to kill a
 * service through the console the ways a page can: an <img>, a no-cors fetch, a form POST,
 * and a fetch that sets the console's header (which needs a CORS preflight). The service
 * lives, and the console's log says what it refused. Skips, saying why, only when
 * /usr/bin/chromium is absent (.ci/run installs it).
 */
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium } from "playwright-core";
import { describe, expect, it, onTestFinished } from "vitest";
import { formatHandle } from "weft";
import type DebugConsole from "../services/debug_console.js";
import type Store from "./fixtures/con_store.js";
import { logFile, startRuntime } from "./helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** The attacker's page, on an origin of its own: each attempt is a function the test calls. */
function attackPage(killUrl: string): string {
  return `<!doctype html>
<html><body>
<iframe name="sink"></iframe>
<form id="form" method="POST" action="${killUrl}" target="sink"><input name="why" value="csrf"></form>
<script>
  const url = ${JSON.stringify(killUrl)};
  window.image = () => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve("loaded");
    img.onerror = () => resolve("error");
    img.src = url;
  });
  window.noCors = (method) => fetch(url, { method, mode: "no-cors" }).then((r) => r.type, (e) => String(e));
  window.withHeader = () => fetch(url, { method: "POST", headers: { "X-Weft-Console": "1" } }).then((r) => "answered " + r.status, (e) => String(e));
</script>
</body></html>`;
}

async function serve(html: string): Promise<string> {
  const server: Server = createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(html));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

describe("the debug console and a web page", () => {
  it("a page's <img>, no-cors fetch, form POST and fetch with the header kill nothing", { timeout: 60_000 }, async (ctx) => {
    if (!existsSync(CHROMIUM)) ctx.skip(`${CHROMIUM} is absent: install Debian's chromium (apt-get install chromium, as .ci/run does) to run the browser test`);
    const log = logFile();
    const rt = await startRuntime({ logger: log.path });
    const con = await rt.newService<typeof DebugConsole>("debug_console", 0);
    const { port } = await rt.call(con, "address");
    const victim = await rt.newService<typeof Store>("con_store", "victim");
    const path = `/kill/${formatHandle(victim)}`;
    const killUrl = `http://127.0.0.1:${port}${path}`;
    /** The console's log line for a refused request. */
    const refused = (status: number, method: string, why: string) =>
      log.waitFor(new RegExp(`^\\[${formatHandle(con)}\\] debug console: ${status} to ${method} ${path} from 127\\.0\\.0\\.1:\\d+: ${why}$`));

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
    onTestFinished(() => browser.close());
    const page = await browser.newPage();
    const statuses: string[] = [];
    page.on("response", (r) => void (r.url() === killUrl && statuses.push(`${r.request().method()} ${r.status()}`)));
    await page.goto(await serve(attackPage(killUrl)));

    // An image sends a plain GET: no Origin, the console's own Host. It is refused for its method.
    expect(await page.evaluate("window.image()")).toBe("error");
    expect(await rt.call(victim, "args")).toEqual(["victim"]);
    await refused(405, "GET", "GET of a command that changes the node");
    expect(await page.evaluate("window.noCors('GET')")).toBe("opaque");
    // A POST from a page carries an Origin, whatever form it takes.
    expect(await page.evaluate("window.noCors('POST')")).toBe("opaque");
    await refused(403, "POST", "it has an Origin: a web page sent it");
    const formAnswer = page.waitForResponse((r) => r.url() === killUrl && r.request().method() === "POST" && r.frame().name() === "sink");
    await page.evaluate("document.getElementById('form').submit()");
    expect((await formAnswer).status()).toBe(403);
    // The header needs a preflight; the console refuses it, so the browser never sends the POST.
    expect(await page.evaluate("window.withHeader()")).toMatch(/^TypeError: Failed to fetch/);
    await refused(403, "OPTIONS", "it has an Origin: a web page sent it");

    expect(statuses).toEqual(expect.arrayContaining(["GET 405", "POST 403"]));
    expect(statuses).not.toContainEqual(expect.stringMatching(/ 200$/));
    expect(await rt.call(victim, "args")).toEqual(["victim"]);
    expect((await rt.list()).map((r) => r.address)).toContain(formatHandle(victim));
    expect(log.lines().filter((l) => l.includes("killed"))).toEqual([]);
  });
});
