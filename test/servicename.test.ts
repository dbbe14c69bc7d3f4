/**
 * Services are found by name in servicePath, never loaded from a path elsewhere on disk (issue
 * 11, point 10): whoever can start a service, through the launcher directly too, cannot run an
 * arbitrary module.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ServiceStartError } from "weft";
import { fixtures, rejectionOf, startRuntime } from "./helpers.js";

/** A module that would leave a file behind if it ever ran. */
function evilModule(): { file: string; mark: string } {
  const dir = mkdtempSync(join(tmpdir(), "weft-evil-"));
  const mark = join(dir, "ran");
  const file = join(dir, "evil.mjs");
  writeFileSync(file, `import { writeFileSync } from "node:fs";\nwriteFileSync(${JSON.stringify(mark)}, "ran");\nexport default () => ({});\n`);
  return { file, mark };
}

describe("a service name", () => {
  it("that is an absolute path, a '..' path, a URL or has a backslash is refused, and nothing runs", async () => {
    const rt = await startRuntime();
    const { file, mark } = evilModule();
    const upward = relative(fixtures, file).replace(/\.mjs$/, "");
    for (const name of [file, upward, `file://${file}`, "..\\evil", "./echo"]) {
      const err = await rejectionOf(rt.newService(name));
      expect(err, name).toBeInstanceOf(ServiceStartError);
      expect(err.message, name).toMatch(/refused: .*services are found by name in servicePath/);
    }
    // Through the launcher's own command, as the console's `call` would send it.
    const direct = await rejectionOf(rt.call(".launcher", "launch", file, []));
    expect(direct.message).toContain("refused: an absolute path");
    expect(existsSync(mark)).toBe(false);
  });

  it("may name a module in a folder under servicePath", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weft-path-"));
    mkdirSync(join(dir, "games"));
    writeFileSync(join(dir, "games", "room.mjs"), `export default () => ({ hello: () => "room" });\n`);
    const rt = await startRuntime({ servicePath: [dir, fixtures] });
    const room = await rt.newService("games/room");
    expect(await rt.call(room, "hello")).toBe("room");
  });
});
