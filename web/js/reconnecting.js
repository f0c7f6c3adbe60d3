// @ts-check
/**
 * One kept WHIP or WHEP connection, the one lifecycle of every page: the console going live,
 * its floor player and mosaic tiles, a hall's player and return feed. No DOM here.
 */

import {backoff} from './backoff.js';
import {HttpError} from './httperror.js';

/** @typedef {import('./whip.js').MediaSession} MediaSession */

/** How long 'disconnected' may last before a kept connection is made again, in ms. */
const DISCONNECTED_GRACE = 4000;

/** Refusals that no retry changes: the link, the session or the codec is wrong for good. */
const FINAL_FAILURES = new Set(['invalid_link', 'not_found', 'ended', 'codec']);

/**
 * Where a kept connection stands: 'idle' (not started), 'connecting', 'connected',
 * 'unstable' (disconnected, within the grace), 'waiting' (to connect again, see `retryAt`),
 * 'ended' (stopped, or refused for good: see `failure`).
 * @typedef {'idle'|'connecting'|'connected'|'unstable'|'waiting'|'ended'} KeptState
 */

/**
 * @param {HttpError} e
 * @returns {boolean}
 */
function finalFailure(e) {
    return FINAL_FAILURES.has(e.failure);
}

/**
 * @typedef {Object} KeptOptions
 * @property {number} [grace] how long 'disconnected' may last, in ms
 * @property {(attempt: number) => number} [delay] the wait before attempt n, in ms
 * @property {(failure: HttpError) => boolean} [final] refusals that end it; FINAL_FAILURES unless said
 */

/**
 * Keeps one WHIP or WHEP resource up: connects, and whenever the connection fails, stays
 * disconnected past a grace period, or is refused for a reason a retry may cure (network,
 * server restarting), connects again with backoff. The refusals `final` names end it.
 *
 * Dispatches 'session' when a new MediaSession is made (read `session`), and 'statechange'.
 */
export class ReconnectingSession extends EventTarget {
    /**
     * @param {() => Promise<MediaSession>} connect makes one connection (publish() or play())
     * @param {KeptOptions} [options]
     */
    constructor(connect, options = {}) {
        super();
        /** @private */
        this.connect = connect;
        /** @private */
        this.grace = options.grace ?? DISCONNECTED_GRACE;
        /** @private */
        this.delay = options.delay || backoff;
        /** @private */
        this.final = options.final || finalFailure;
        /** @type {KeptState} */
        this.state = 'idle';
        /** @type {MediaSession|null} the connection now, if any */
        this.session = null;
        /** @type {HttpError|null} why it ended, when refused for good */
        this.failure = null;
        /** @type {unknown} why the last attempt failed; null when a connection was lost instead */
        this.lastError = null;
        /** Attempts since the last connection that came up. */
        this.attempt = 0;
        /** When the next attempt starts (ms since the epoch), while 'waiting'. */
        this.retryAt = 0;
        /** @private true while connect() is under way */
        this.opening = false;
        /** @private @type {{tellServer?: boolean}} what stop() was told, for a connection made after it */
        this.stopOptions = {};
        /** @private @type {ReturnType<typeof setTimeout>|null} */
        this.retryTimer = null;
        /** @private @type {ReturnType<typeof setTimeout>|null} */
        this.graceTimer = null;
    }

    start() {
        if (this.state === 'idle')
            void this.open();
    }

    /**
     * Stops for good, deleting the resource on the server unless told not to.
     * @param {{tellServer?: boolean}} [options]
     * @returns {Promise<void>} once the resource is deleted (or the DELETE given up)
     */
    stop(options = {}) {
        this.clearTimers();
        const session = this.session;
        this.session = null;
        this.stopOptions = options;
        this.setState('ended');
        return session ? session.stop(options) : Promise.resolve();
    }

    /** Drops the connection (or the wait for the next attempt) and connects again at once. */
    restart() {
        if (this.state === 'ended' || this.opening)
            return;
        this.clearTimers();
        const session = this.session;
        this.session = null;
        void session?.stop();
        this.attempt = 0;
        void this.open();
    }

    /** Takes the connection as lost though it says it is up (it brings nothing): again after a backoff. */
    abandon() {
        if (this.session)
            this.lost(this.session);
    }

    /** @private */
    async open() {
        this.setState('connecting');
        /** @type {MediaSession} */
        let session;
        this.opening = true;
        try {
            session = await this.connect();
        } catch (e) {
            this.opening = false;
            if (this.state === 'ended')
                return;
            this.lastError = e;
            if (e instanceof HttpError && this.final(e)) {
                this.failure = e;
                void this.stop({tellServer: false});
                return;
            }
            this.retry();
            return;
        }
        this.opening = false;
        if (this.state === 'ended') {
            void session.stop(this.stopOptions);
            return;
        }
        this.lastError = null;
        this.session = session;
        session.addEventListener('connectionstatechange', () => this.watch(session));
        this.dispatchEvent(new Event('session'));
        this.watch(session);
    }

    /**
     * @private
     * @param {MediaSession} session
     */
    watch(session) {
        if (session !== this.session)
            return;
        if (this.graceTimer)
            clearTimeout(this.graceTimer);
        this.graceTimer = null;
        switch (session.state) {
        case 'connected':
            this.attempt = 0;
            this.setState('connected');
            break;
        case 'disconnected':
            this.setState('unstable');
            // An ICE restart under way ends in 'connected' or 'failed' by itself.
            this.graceTimer = setTimeout(() => {
                if (!session.recovering)
                    this.lost(session);
            }, this.grace);
            break;
        case 'failed':
        case 'closed':
            this.lost(session);
            break;
        default:
            this.setState('connecting');
        }
    }

    /**
     * @private
     * @param {MediaSession} session
     */
    lost(session) {
        if (session !== this.session)
            return;
        this.session = null;
        this.lastError = null;
        void session.stop();
        this.retry();
    }

    /** @private */
    retry() {
        this.clearTimers();
        this.attempt += 1;
        const wait = this.delay(this.attempt);
        this.retryAt = Date.now() + wait;
        this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            void this.open();
        }, wait);
        this.setState('waiting');
    }

    /** @private */
    clearTimers() {
        if (this.retryTimer)
            clearTimeout(this.retryTimer);
        if (this.graceTimer)
            clearTimeout(this.graceTimer);
        this.retryTimer = null;
        this.graceTimer = null;
    }

    /**
     * @private
     * @param {KeptState} state
     */
    setState(state) {
        if (state === this.state)
            return;
        this.state = state;
        this.dispatchEvent(new Event('statechange'));
    }
}
