/**
 * The logger service (skynet's logger): every svc.log line arrives here on the text protocol
 * and is written as `[:0000000a] message`, to stdout or to the file named by config `logger`.
 */
import { createWriteStream, openSync } from "node:fs";
import { defineService, formatHandle } from "weft";

export default defineService(async (svc, file: string | null = null) => {
  let fd: number | undefined;
  if (file) {
    try {
      fd = openSync(file, "a");
    } catch (err) {
      throw new Error(`cannot open the log file (config "logger"): ${(err as Error).message}`);
    }
  }
  const stream = fd === undefined ? undefined : createWriteStream("", { fd });
  // A full disk must not take the worker down with an unhandled 'error'.
  stream?.on("error", (err) => process.stderr.write(`weft logger: ${err.message}\n`));
  const write = (line: string) => (stream ? stream.write(line) : process.stdout.write(line));

  svc.dispatch("text", (text: string, source) => {
    write(`[${formatHandle(source)}] ${text}\n`);
  });
  svc.onExit(() => (stream ? new Promise<void>((resolve) => stream.end(resolve)) : undefined));
  await svc.register(".logger");
  return {
    /** Answered after every line sent before it by the same caller: used at shutdown. */
    flush(): true {
      return true;
    },
  };
});
