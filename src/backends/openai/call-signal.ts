/**
 * One abort signal per backend call, linked to the caller's signal through a single listener
 * per caller signal, however many calls share it.
 *
 * Why: a run passes one signal to every call, and each call's HTTP requests and endpoint waits
 * listen for abort. Listening on the caller's signal once per call puts more than ten listeners
 * on it with more than ten calls in flight, and Node prints `MaxListenersExceededWarning`.
 * (`AbortSignal.any` would add a listener per call to the caller's signal all the same.)
 */
import { setMaxListeners } from "node:events";

interface Link {
  readonly calls: Set<AbortController>;
  readonly onAbort: () => void;
}

const links = new WeakMap<AbortSignal, Link>();

/** A call's signal, aborted when `parent` aborts; call `release` when the call ends. */
export interface CallSignal {
  readonly signal: AbortSignal;
  release(): void;
}

/** Makes the signal of one call under `parent`. */
export function callSignal(parent: AbortSignal): CallSignal {
  const controller = new AbortController();
  // The call's own listeners: one per HTTP request (n of them when samples are split) and per
  // endpoint wait, all gone when the call ends.
  setMaxListeners(0, controller.signal);
  let link = links.get(parent);
  if (link === undefined) {
    const calls = new Set<AbortController>();
    const onAbort = () => {
      links.delete(parent);
      for (const call of calls) call.abort(parent.reason);
      calls.clear();
    };
    link = { calls, onAbort };
    links.set(parent, link);
    parent.addEventListener("abort", onAbort, { once: true });
  }
  const current = link;
  current.calls.add(controller);
  return {
    signal: controller.signal,
    release() {
      if (!current.calls.delete(controller) || current.calls.size > 0) return;
      // No call left: a long-lived parent signal keeps no listener of ours.
      parent.removeEventListener("abort", current.onAbort);
      if (links.get(parent) === current) links.delete(parent);
    },
  };
}
