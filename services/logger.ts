/**
 * The logger service (skynet's logger): every svc.log line arrives here on the text protocol
 * and is written as `[:0000000a] message`, to stdout or to the file named by config `logger`.
 */
import { createWriteStream } from "node:fs";
import { defineService, formatHandle } from "weft";

export default defineService(async (svc, file: string | null = null) => {
  const stream = file ? createWriteStream(file, { flags: "a" }) : undefined;
  const write = (line: string) => (stream ? stream.write(line) : process.stdout.write(line));

  svc.dispatch("text", (text: string, source) => {
    write(`[${formatHandle(source)}] ${text}\n`);
  });
  svc.onExit(() => (stream ? new Promise<void>((resolve) => stream.end(resolve)) : undefined));
  await svc.register(".logger");
  return {};
});
