/**
 * `watchStatus`: redraws the cockpit in place every interval until aborted (Ctrl-C in the CLI).
 *
 * Plain ANSI instead of log-update: the whole frame is rewritten from the top-left corner, each line
 * ending with "erase to end of line" and the frame with "erase below" — three escape codes, no
 * flicker (the screen is never cleared first), and nothing to install.
 */

const HOME = '\x1b[H';
const ERASE_LINE_END = '\x1b[K';
const ERASE_BELOW = '\x1b[J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/** Where frames go: a terminal (redrawn in place) or a pipe (frames one after another). */
export interface FrameSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Options of `watchStatus`. */
export interface WatchOptions {
  /** Produces one frame (the rendered status); an error is shown in the frame, and watching goes on. */
  frame: () => Promise<string>;
  intervalMs: number;
  out: FrameSink;
  /** Stops the watch (the CLI aborts on SIGINT). */
  signal: AbortSignal;
  /** Called after each frame is written (tests count frames). */
  onFrame?: (n: number) => void;
}

/** One frame as written to a terminal: from the top-left corner, every line erased to its end. */
export function inPlace(frame: string): string {
  return `${HOME}${frame
    .split('\n')
    .map((l) => `${l}${ERASE_LINE_END}`)
    .join('\n')}\n${ERASE_BELOW}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Redraws until `signal` aborts; resolves then (after restoring the cursor). */
export async function watchStatus(opts: WatchOptions): Promise<number> {
  const tty = opts.out.isTTY === true;
  if (tty) opts.out.write(HIDE_CURSOR);
  let n = 0;
  try {
    while (!opts.signal.aborted) {
      let text: string;
      try {
        text = await opts.frame();
      } catch (err) {
        text = `status unavailable: ${(err as Error).message}\n(retrying every ${Math.round(opts.intervalMs / 1000)} s; Ctrl-C to stop)`;
      }
      if (opts.signal.aborted) break;
      opts.out.write(tty ? inPlace(text) : `${text}\n\n`);
      n++;
      opts.onFrame?.(n);
      await sleep(opts.intervalMs, opts.signal);
    }
  } finally {
    if (tty) opts.out.write(SHOW_CURSOR);
  }
  return n;
}
