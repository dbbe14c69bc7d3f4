/**
 * What the debug console refuses to do for its user: start a module from outside servicePath
 * (a path, a `..` or a URL), store `__proto__` in the environment, or pass on the internal
 * commands the runtime sends the launcher. Each with real modules on disk that would leave a
 * mark if they ran, a real runtime and a real console over TCP and HTTP.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { formatHandle, type RuntimeConfig } from "weft";
import type DebugConsole from "../services/debug_console.js";
import { ConsoleClient } from "./fixtures/con_client.js";
import { fixtures, logFile, startRuntime } from "./helpers.js";

/** A runtime of its own (these tests try to damage it) with a console; the port of the console. */
async function runtimeWithConsole(config: RuntimeConfig = {}) {
  const rt = await startRuntime({ logger: logFile().path, ...config });
  const con = await rt.newService<typeof DebugConsole>("debug_console", 0);
  const { port } = await rt.call(con, "address");
  const client = async () => {
    const c = await ConsoleClient.connect(port);
    onTestFinished(() => void c.socket.destroy());
    return c;
  };
  return { rt, port, client };
}

function post(port: number, path: string): Promise<{ status?: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", headers: { "X-Weft-Console": "1" }, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("start takes only services found by name in servicePath", () => {
  /**
   * Modules that write `<their file>.ran` if they are ever imported: evil* outside servicePath,
   * control inside it (in `inside`, a folder of servicePath), to show such a module does run.
   */
  let dir = "";
  let inside = "";
  const module = (name: string) => join(name === "control" ? inside : dir, `${name}.mjs`);
  const ran = (name: string) => existsSync(`${module(name)}.ran`);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "weft-con-evil-"));
    inside = join(dir, "inside");
    mkdirSync(inside);
    for (const name of ["evil", "evil2", "evil3", "control"]) {
      writeFileSync(module(name), `import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(`${module(name)}.ran`)}, "ran");\nexport default () => ({});\n`);
    }
  });

  it("refuses absolute paths, .. segments, backslashes and URLs, saying what and why; nothing runs", async () => {
    const { rt, port, client } = await runtimeWithConsole({ servicePath: [fixtures, inside] });
    const c = await client();
    const upAndOut = relative(fixtures, join(dir, "evil2")); // ../../../../tmp/weft-con-evil-x/evil2
    expect(upAndOut.split("/")).toContain("..");
    const refused = (name: string, why: string) => `service ${JSON.stringify(name)} refused: ${why}; services are found by name in servicePath`;
    expect(await c.error(`start ${module("evil")}`)).toBe(refused(module("evil"), "an absolute path"));
    expect(await c.error(`start ${upAndOut}`)).toBe(refused(upAndOut, `a "..", "." or empty path segment`));
    expect(await c.error("start ../evil2")).toBe(refused("../evil2", `a "..", "." or empty path segment`));
    expect(await c.error(`start con_store/../${upAndOut}`)).toMatch(/refused: a "\.\.", "\." or empty path segment; /);
    expect(await c.error(`start ${upAndOut.replaceAll("/", "\\")}`)).toMatch(/refused: a backslash; /);
    expect(await c.error(`start file://${module("evil")}`)).toBe(refused(`file://${module("evil")}`, "a URL (file:, node:, data: ...)"));
    expect(await c.error("start data:text/javascript,export%20default%20()=>({})")).toMatch(/refused: a URL \(file:, node:, data: \.\.\.\); /);
    expect(await c.error("start node:fs")).toMatch(/^service "node:fs" refused: a URL /);
    expect(await c.error("start C:/x/evil")).toMatch(/refused: an absolute path; /);
    // Over HTTP too, and through the launcher's own command.
    expect(await post(port, `/start/${encodeURIComponent(module("evil3"))}`)).toEqual({ status: 400, body: `${refused(module("evil3"), "an absolute path")}\n` });
    expect(await c.error(`call .launcher launch ${JSON.stringify(module("evil3"))}`)).toMatch(/evil3\.mjs\\?" refused: an absolute path; /);
    expect(await c.error(`call .launcher unique ${JSON.stringify(upAndOut)}`)).toMatch(/ refused: a "\.\.", "\." or empty path segment; /);
    expect(["evil", "evil2", "evil3"].filter(ran)).toEqual([]);
    expect((await rt.list()).map((r) => r.name)).not.toContainEqual(expect.stringMatching(/evil/));
    // The modules are real: one found by name in servicePath runs, and leaves its mark.
    expect(await c.ok("start control")).toEqual([expect.stringMatching(/^:[0-9a-f]{8}$/)]);
    expect(ran("control")).toBe(true);
  });

  it("still starts services by name, in a subfolder of servicePath too", async () => {
    const { rt, client } = await runtimeWithConsole();
    const c = await client();
    const [printed] = await c.ok('start con_store "s"');
    expect((await rt.list()).find((r) => r.address === printed)).toMatchObject({ name: "con_store", args: ["s"] });
    // A folder of servicePath (dist/test/fixtures/jobs) is reached by a relative name without "..".
    expect(await c.error("start jobs/none")).toMatch(/^service "jobs\/none" not found; searched servicePath/);
  });
});

describe("the environment", () => {
  it("setenv __proto__ (or a runtime setting) is refused with an error, and pollutes nothing", async () => {
    const { rt, client } = await runtimeWithConsole();
    const c = await client();
    expect(await c.error('setenv __proto__ {"x":1}')).toBe('setenv refuses "__proto__": it would reach the table\'s prototype');
    expect(await c.error("getenv x")).toBe('"x" is not set');
    expect(rt.getenv("x")).toBeUndefined();
    expect(await c.ok("setenv con_fine 1")).toEqual(["con_fine = 1"]);
    // A runtime setting is read once at start: setenv cannot change every call's default.
    expect(await c.error("setenv callTimeout 1")).toMatch(/^setenv refuses "callTimeout": it is a runtime setting/);
  });
});

describe("the launcher's internal commands", () => {
  it('call .launcher workerLost 1 "x" answers an error and changes nothing: list still shows the services', async () => {
    const { rt, client } = await runtimeWithConsole();
    const onOne = await rt.newServiceOn(1, "con_store", "one");
    const c = await client();
    const before = await c.ok("list");
    expect(before).toContainEqual(expect.stringMatching(new RegExp(`^${formatHandle(onOne)} +con_store +"one"$`)));
    expect(await c.error('call .launcher workerLost 1 "x"')).toMatch(/"workerLost" is the runtime's own notice to the launcher; :[0-9a-f]{8} may not send it/);
    expect(await c.ok("list")).toEqual(before);
    expect((await rt.list()).map((r) => r.address)).toContain(formatHandle(onOne));
  });
});
