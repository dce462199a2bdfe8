/** Waiting that an AbortSignal can cut short: the one sleep every layer uses. */

/**
 * Resolves after `ms` milliseconds; rejects with `onAbort(reason)` as soon as `signal` aborts
 * (at once when it already has), clearing the timer so that nothing keeps the process alive.
 */
export function sleep(
  ms: number,
  signal: AbortSignal | undefined,
  onAbort: (reason: unknown) => unknown,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(onAbort(signal.reason));
      return;
    }
    const abort = () => {
      clearTimeout(timer);
      reject(onAbort(signal?.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", abort, { once: true });
  });
}
