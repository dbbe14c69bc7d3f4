/**
 * Serves the example's browser client over HTTP: examples/web/index.html and app.js, msgpackr's
 * own browser build (from node_modules), and /config.json, which tells the page the websocket
 * gate's port. Only these paths are served; anything else is 404.
 *
 * The page's files are not TypeScript, so tsc does not copy them to dist/: they are read from
 * the source folder, found relative to this module (dist/examples/web.js → examples/web/).
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineService } from "weft";

export interface WebConf {
  /** 0: any free port. */
  port: number;
  address: string;
  /** The websocket gate's port, for the page. */
  wsport: number;
}

const pageDir = fileURLToPath(new URL("../../examples/web/", import.meta.url));
/** msgpackr's browser build (UMD: it defines the global `msgpackr`); "msgpackr" resolves to its dist/node.cjs. */
const msgpackrBrowser = join(dirname(createRequire(import.meta.url).resolve("msgpackr")), "index.js");

interface File {
  type: string;
  body: Buffer;
}

export default defineService(async (svc, conf: WebConf) => {
  const js = "text/javascript; charset=utf-8";
  // Read once at start: a missing file is a clear start-up error, not a 404 later.
  const page: File = { type: "text/html; charset=utf-8", body: readFileSync(join(pageDir, "index.html")) };
  const files = new Map<string, File>([
    ["/", page],
    ["/index.html", page],
    ["/app.js", { type: js, body: readFileSync(join(pageDir, "app.js")) }],
    ["/msgpackr.js", { type: js, body: readFileSync(msgpackrBrowser) }],
    ["/config.json", { type: "application/json", body: Buffer.from(JSON.stringify({ wsport: conf.wsport })) }],
  ]);

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const file = files.get(path);
    const headers = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...headers, Allow: "GET, HEAD", "Content-Type": "text/plain" }).end("only GET\n");
    } else if (!file) {
      res.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end(`not found: ${path}\n`);
    } else {
      res.writeHead(200, { ...headers, "Content-Type": file.type, "Content-Length": file.body.length });
      res.end(req.method === "HEAD" ? undefined : file.body);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: conf.address, port: conf.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => svc.log(`web server error: ${err.message}`));
  svc.onExit(() => {
    server.close();
    server.closeAllConnections();
  });
  const bound = server.address() as { address: string; port: number };
  const host = bound.address.includes(":") ? `[${bound.address}]` : bound.address;
  svc.log(`Web page at http://${host}:${bound.port}/`);
  return {
    /** Where the page is served. */
    where: () => bound,
  };
});
