/** The receiving end of the runtime benchmarks: counts one-way messages, answers calls. */
import { defineService } from "weft";

export default defineService(() => {
  let hits = 0;
  return {
    hit(_a: number, _b: string) {
      hits++;
    },
    /** Answered after every earlier message from the same sender: the benchmark's flow control. */
    sync() {
      return hits;
    },
    echo(value: number) {
      return value;
    },
    count() {
      return hits;
    },
  };
});
