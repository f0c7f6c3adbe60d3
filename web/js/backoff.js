// @ts-check
/**
 * How long a connection that comes back by itself waits before each attempt: the same for the
 * control channel and every WHIP or WHEP connection, so that a hundred halls behave alike.
 */

/**
 * The delay before reconnection attempt number `attempt` (1, 2, …): one second doubling
 * up to ten, each jittered by ±20% so that a hundred halls don't all knock at once.
 * @param {number} attempt
 * @param {() => number} [random]
 * @returns {number} milliseconds
 */
export function backoff(attempt, random = Math.random) {
    const base = Math.min(10000, 1000 * 2 ** Math.max(0, attempt - 1));
    return Math.round(base * (0.8 + 0.4 * random()));
}
