/**
 * Routing over many replicas of one server: least-outstanding choice, a concurrency cap per
 * endpoint, health tracking with ejection and recovery, and `Retry-After` cool-downs.
 * Pure bookkeeping: no HTTP here, so the invariants can be property-tested.
 */
import { AbortError } from "../../common/errors.js";

/** Settings of an {@link EndpointRouter}. */
export interface EndpointRouterOptions {
  /** Number of endpoints (they are addressed by index). */
  readonly endpoints: number;
  /** Most requests in flight on one endpoint. */
  readonly maxConcurrencyPerEndpoint: number;
  /** Consecutive failures after which an endpoint is ejected. */
  readonly ejectAfterFailures: number;
  /** How long an ejection lasts; afterwards one more failure ejects it again. */
  readonly ejectForMs: number;
  /** Clock, replaceable in tests. */
  readonly now?: () => number;
}

/** What happened to a request, for the endpoint's health. */
export type RequestOutcome =
  /** The endpoint answered properly (a 4xx that is the request's fault counts here too). */
  | "success"
  /** The endpoint failed: connection refused or reset, timeout, 5xx, malformed body. */
  | "failure"
  /** Says nothing about health (the call was aborted, or the server rate-limited us). */
  | "neutral";

/** A slot on one endpoint, held while a request is in flight. Release it exactly once. */
export interface EndpointLease {
  /** Index of the endpoint. */
  readonly endpoint: number;
}

/** Counters of one endpoint, for reports and benchmarks. */
export interface EndpointStats {
  readonly inFlight: number;
  /** Highest `inFlight` seen. */
  readonly peakInFlight: number;
  /** Requests started on this endpoint. */
  readonly requests: number;
  /** Requests that ended in a failure. */
  readonly failures: number;
  /** Times the endpoint was ejected. */
  readonly ejections: number;
  /** True while the endpoint is out of the rotation. */
  readonly ejected: boolean;
}

interface EndpointState {
  inFlight: number;
  peakInFlight: number;
  requests: number;
  failures: number;
  ejections: number;
  consecutiveFailures: number;
  ejectedUntil: number;
  coolUntil: number;
}

interface Waiter {
  readonly resolve: (lease: EndpointLease) => void;
  readonly reject: (error: unknown) => void;
  readonly signal?: AbortSignal;
  readonly onAbort: () => void;
}

/**
 * Hands out endpoint slots. Choice: among available endpoints (not ejected, not cooling down
 * after a `Retry-After`) below their cap, the one with the fewest requests in flight, counting
 * one more where the last request failed, so that the next attempt of a failed call goes to a
 * replica that did not just fail; ties rotate. Such an endpoint, if it has peers, takes one
 * request at a time until one succeeds, so it fails at most `ejectAfterFailures` requests before
 * it is ejected. When no endpoint is available, the one that becomes
 * available first is used at once: how long to wait before another attempt is the engine's
 * decision, and a run never stalls on health alone. When every candidate is at its cap, the
 * request waits, in order of arrival, for a release or for a cool-down or ejection to end.
 */
export class EndpointRouter {
  readonly #options: EndpointRouterOptions;
  readonly #states: EndpointState[];
  readonly #waiters: Waiter[] = [];
  readonly #now: () => number;
  #cursor = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(options: EndpointRouterOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#states = Array.from({ length: options.endpoints }, () => ({
      inFlight: 0,
      peakInFlight: 0,
      requests: 0,
      failures: 0,
      ejections: 0,
      consecutiveFailures: 0,
      ejectedUntil: 0,
      coolUntil: 0,
    }));
  }

  /** Takes a slot; aborting `signal` gives up waiting for one. */
  acquire(options: { signal?: AbortSignal } = {}): Promise<EndpointLease> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#waiters.length === 0) {
      const chosen = this.#choose();
      if (chosen !== undefined) return Promise.resolve(this.#take(chosen));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const at = this.#waiters.indexOf(waiter);
          if (at >= 0) this.#waiters.splice(at, 1);
          reject(abortReason(signal));
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  /**
   * Gives a slot back and records the outcome. `retryAfterMs` cools the endpoint down: no new
   * request goes there before it has passed while another endpoint is available.
   */
  release(lease: EndpointLease, outcome: RequestOutcome, retryAfterMs?: number): void {
    const state = this.#states[lease.endpoint];
    state.inFlight--;
    const now = this.#now();
    if (outcome === "success") {
      state.consecutiveFailures = 0;
      state.ejectedUntil = 0;
    } else if (outcome === "failure") {
      state.failures++;
      state.consecutiveFailures++;
      if (state.consecutiveFailures >= this.#options.ejectAfterFailures) {
        if (state.ejectedUntil <= now) state.ejections++;
        state.ejectedUntil = now + this.#options.ejectForMs;
      }
    }
    if (retryAfterMs !== undefined && retryAfterMs > 0) {
      state.coolUntil = Math.max(state.coolUntil, now + retryAfterMs);
    }
    this.#drain();
  }

  /** Whether some endpoint is neither ejected nor cooling down after a Retry-After. */
  anyAvailable(): boolean {
    const now = this.#now();
    return this.#states.some((state) => Math.max(state.ejectedUntil, state.coolUntil) <= now);
  }

  /** Counters per endpoint, in endpoint order. */
  stats(): EndpointStats[] {
    const now = this.#now();
    return this.#states.map((state) => ({
      inFlight: state.inFlight,
      peakInFlight: state.peakInFlight,
      requests: state.requests,
      failures: state.failures,
      ejections: state.ejections,
      ejected: state.ejectedUntil > now,
    }));
  }

  /** Rejects every waiting request (the backend is closing). */
  close(reason: unknown): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const waiter of this.#waiters.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(reason);
    }
  }

  #take(index: number): EndpointLease {
    const state = this.#states[index];
    state.inFlight++;
    state.requests++;
    if (state.inFlight > state.peakInFlight) state.peakInFlight = state.inFlight;
    this.#cursor = (index + 1) % this.#states.length;
    return { endpoint: index };
  }

  #choose(): number | undefined {
    const now = this.#now();
    const count = this.#states.length;
    const availableAt = (state: EndpointState) => Math.max(state.ejectedUntil, state.coolUntil);
    // An endpoint whose last request failed takes one request at a time (a probe) while it
    // has peers: otherwise every call that picked it before its failures came back would
    // fail too, past the ejection threshold. Alone, it keeps its full cap: there is nowhere
    // else to go, and the engine's backoff already spaces the attempts.
    const probing = (state: EndpointState) =>
      count > 1 && state.consecutiveFailures > 0 && state.inFlight > 0;
    const anyAvailable = this.anyAvailable();
    // A probe out on an endpoint that is not ejected will answer: wait for it rather than
    // fall back on an ejected endpoint.
    const probeOut = this.#states.some((state) => probing(state) && state.ejectedUntil <= now);
    let best: number | undefined;
    let bestRank = Number.POSITIVE_INFINITY;
    for (let step = 0; step < count; step++) {
      const index = (this.#cursor + step) % count;
      const state = this.#states[index];
      if (state.inFlight >= this.#options.maxConcurrencyPerEndpoint || probing(state)) continue;
      const waitMs = availableAt(state) - now;
      if ((anyAvailable || probeOut) && waitMs > 0) continue;
      // Load, plus one when the last request failed; when no endpoint is available, the one
      // available soonest comes first.
      const failedLast = state.consecutiveFailures > 0 ? 1 : 0;
      const rank = Math.max(0, waitMs) * 1e3 + state.inFlight + failedLast;
      if (rank < bestRank) {
        bestRank = rank;
        best = index;
      }
    }
    return best;
  }

  #drain(): void {
    let index = 0;
    while (index < this.#waiters.length) {
      const waiter = this.#waiters[index];
      const chosen = this.#choose();
      if (chosen === undefined) {
        index++;
        continue;
      }
      this.#waiters.splice(index, 1);
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(this.#take(chosen));
    }
    this.#schedule();
  }

  /** Arms a timer for the next moment a cool-down or an ejection ends, while requests wait. */
  #schedule(): void {
    if (this.#waiters.length === 0) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const state of this.#states) {
      if (state.coolUntil > now) next = Math.min(next, state.coolUntil);
      if (state.ejectedUntil > now) next = Math.min(next, state.ejectedUntil);
    }
    if (next === Number.POSITIVE_INFINITY || next >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = next;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#drain();
      },
      Math.max(1, next - now),
    );
  }
}

function abortReason(signal: AbortSignal | undefined): unknown {
  const reason = signal?.reason;
  return reason instanceof Error
    ? reason
    : new AbortError("The request was aborted", { cause: reason });
}
