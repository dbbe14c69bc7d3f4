import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests run against the compiled package (npm test builds first), loaded by Node itself rather
// than through vite, so the main thread and the worker threads run exactly the same code.
const dist = (file: string) => fileURLToPath(new URL(`./dist/${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^weft$/, replacement: dist("index.js") },
      { find: /^weft\/internal$/, replacement: dist("internal.js") },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 30_000,
    server: { deps: { external: [/\/dist\//] } },
  },
});
