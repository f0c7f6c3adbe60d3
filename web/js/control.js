// @ts-check
/**
 * The control channel (docs/control.md): one WebSocket per participant at /ws/{session},
 * carrying presence, floor requests, the floor, mutes, removals, headcounts and the session's
 * state. No DOM here.
 *
 * A ControlChannel opens the socket, sends `hello` with the token first (never the token in
 * the URL), keeps a copy of the room (`room`) up to date from the server's messages, and
 * dispatches each message as an event named after its type ('welcome', 'presence',
 * 'requests', 'floor', 'mute', 'removed', 'headcount', 'session', 'error', 'pong'), with the
 * message as `detail`. A connection that drops is made again with backoff, and `hello` sent
 * again; the server's refusals that no retry can change (a bad or revoked token, a removed
 * site, an ended session) end it for good, with `end` saying why.
 */

import {backoff} from './backoff.js';

/** The server's close codes (4000-4999 are the application's). */
export const CLOSE = Object.freeze({
    unauthorized: 4401,
    forbidden: 4403,
    timeout: 4408,
    ended: 4409,
    flood: 4429,
    behind: 4503,
});

/** How often an open channel says it is alive, in ms (proxies close idle sockets). */
const KEEPALIVE = 20000;
/** A channel that heard nothing for this long is taken as dead and made again, in ms. */
const SILENCE_LIMIT = 50000;

/**
 * 'connecting' (socket opening, or waiting for `welcome`), 'open' (welcomed), 'waiting' (to
 * connect again, see `retryAt`), 'closed' (for good, see `end`).
 * @typedef {'connecting'|'open'|'waiting'|'closed'} ChannelState
 */

/**
 * Why the channel closed for good: 'stopped' by the page, 'unauthorized' (no such token),
 * 'removed' (the chair removed this site, or its invitation was withdrawn), 'replaced' (the
 * admin re-issued this page's link: its token no longer works), 'forbidden' (a token of
 * another session or role), 'ended' (the session ended).
 * @typedef {'stopped'|'unauthorized'|'removed'|'replaced'|'forbidden'|'ended'} ChannelEnd
 */

/**
 * The server's answer to `hello`.
 * @typedef {Object} Welcome
 * @property {'welcome'} type
 * @property {'host'|'admin'|'site'} role
 * @property {string} participant 'host' or the site's id
 * @property {{id: string, title: string, state: 'scheduled'|'live'}} session
 * @property {RoomSnapshot} room
 */

/**
 * The room as the server sends it in `welcome`.
 * @typedef {Object} RoomSnapshot
 * @property {string[]} present participants with an open control connection ('host', site ids)
 * @property {string[]} requests site ids, oldest first
 * @property {string|null} floor the site that has the floor, null for the district hall
 * @property {string|null} [floor_name] its name
 * @property {string[]} muted
 * @property {string[]} removed
 * @property {Record<string, number>} headcounts
 */

/**
 * A message the server sends (docs/control.md), by its `type`. What the network brings is
 * only known to be an object with a string `type`: the fields are read with care.
 * @typedef {Welcome
 *     | {type: 'presence', participant: string, present: boolean}
 *     | {type: 'requests', requests: string[]}
 *     | {type: 'floor', holder: string|null, previous?: string|null, holder_name?: string|null,
 *        previous_name?: string|null}
 *     | {type: 'mute', site: string, muted: boolean}
 *     | {type: 'removed', site: string}
 *     | {type: 'headcount', site: string, present: number}
 *     | {type: 'people', site: string}
 *     | {type: 'session', state: 'scheduled'|'live'|'ended'}
 *     | {type: 'error', code: string, message?: string}
 *     | {type: 'pong'}} ServerMessage
 */

/**
 * The room as this page knows it: `welcome`'s snapshot, kept up to date by the messages.
 */
export class Room {
    constructor() {
        /** @type {Set<string>} */
        this.present = new Set();
        /** @type {string[]} */
        this.requests = [];
        /** @type {string|null} */
        this.floor = null;
        /** @type {string|null} the floor holder's name, when the server gives it (holder_name) */
        this.floorName = null;
        /** @type {Set<string>} */
        this.muted = new Set();
        /** @type {Set<string>} */
        this.removed = new Set();
        /** @type {Map<string, number>} */
        this.headcounts = new Map();
        /** @type {'scheduled'|'live'|'ended'|null} the session's state, once told */
        this.session = null;
    }

    /**
     * Applies one server message; returns whether it changed what the room holds.
     * @param {ServerMessage} message
     * @returns {boolean}
     */
    apply(message) {
        if (!message || typeof message !== 'object')
            return false;
        switch (message.type) {
        case 'welcome': {
            /** @type {Partial<RoomSnapshot>} */
            const room = message.room || {};
            this.present = new Set(room.present || []);
            this.requests = [...(room.requests || [])];
            this.floor = room.floor ?? null;
            this.floorName = typeof room.floor_name === 'string' ? room.floor_name : null;
            this.muted = new Set(room.muted || []);
            this.removed = new Set(room.removed || []);
            this.headcounts = new Map(Object.entries(room.headcounts || {}));
            if (message.session && typeof message.session.state === 'string')
                this.session = message.session.state;
            return true;
        }
        case 'presence':
            if (message.present)
                this.present.add(message.participant);
            else
                this.present.delete(message.participant);
            return true;
        case 'requests':
            this.requests = Array.isArray(message.requests) ? [...message.requests] : [];
            return true;
        case 'floor':
            this.floor = message.holder ?? null;
            this.floorName = typeof message.holder_name === 'string' ? message.holder_name : null;
            return true;
        case 'mute':
            if (message.muted)
                this.muted.add(message.site);
            else
                this.muted.delete(message.site);
            return true;
        case 'removed':
            this.removed.add(message.site);
            this.present.delete(message.site);
            this.requests = this.requests.filter(site => site !== message.site);
            if (this.floor === message.site) {
                this.floor = null;
                this.floorName = null;
            }
            return true;
        case 'headcount':
            if (typeof message.present === 'number')
                this.headcounts.set(message.site, message.present);
            return true;
        case 'session':
            this.session = message.state;
            return true;
        default:
            return false;
        }
    }

    /**
     * Where a site stands in the queue of requests: 1 for the oldest, 0 when it has not asked.
     * @param {string} site
     * @returns {number}
     */
    requestPosition(site) {
        return this.requests.indexOf(site) + 1;
    }
}

/**
 * The WebSocket address of a session's control channel, on the server that served `page`.
 * @param {string} sessionId
 * @param {string} page the page's own address (location.href)
 * @returns {string}
 */
export function controlUrl(sessionId, page) {
    const url = new URL(`/ws/${encodeURIComponent(sessionId)}`, page);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    url.search = '';
    return url.href;
}

/**
 * @typedef {Object} ChannelOptions
 * @property {typeof WebSocket} [WebSocketImpl] for tests
 * @property {(attempt: number) => number} [delay] ms before attempt number n (1, 2, …)
 * @property {number} [keepalive] ms between pings
 * @property {number} [silenceLimit] ms of silence after which the socket is made again
 */

/** One participant's control channel. */
export class ControlChannel extends EventTarget {
    /**
     * @param {string} url from controlUrl()
     * @param {string} token the host's or the site's token
     * @param {ChannelOptions} [options]
     */
    constructor(url, token, options = {}) {
        super();
        /** @type {string} */
        this.url = url;
        /** @private */
        this.token = token;
        /** @private */
        this.WebSocketImpl = options.WebSocketImpl || globalThis.WebSocket;
        /** @private */
        this.delay = options.delay || backoff;
        /** @private */
        this.keepalive = options.keepalive ?? KEEPALIVE;
        /** @private */
        this.silenceLimit = options.silenceLimit ?? SILENCE_LIMIT;
        /** @type {Room} */
        this.room = new Room();
        /** @type {ChannelState} */
        this.state = 'closed';
        /** @type {ChannelEnd|null} set once the channel has closed for good */
        this.end = null;
        /** @type {Welcome|null} the last welcome */
        this.welcome = null;
        /** Connection attempts since the last welcome. */
        this.attempt = 0;
        /** When the next attempt starts (ms since the epoch), while 'waiting'. */
        this.retryAt = 0;
        /** @type {string} the last error code the server sent ('' if none) */
        this.lastError = '';
        /** @private @type {WebSocket|null} */
        this.socket = null;
        /** @private @type {ReturnType<typeof setTimeout>|null} */
        this.retryTimer = null;
        /** @private @type {ReturnType<typeof setInterval>|null} */
        this.pingTimer = null;
        /** @private */
        this.heardAt = 0;
    }

    /** Opens the channel; it stays open (or reopens) until stop() or a final refusal. */
    start() {
        if (this.end !== null || this.socket || this.retryTimer)
            return;
        this.open();
    }

    /** Closes the channel for good. */
    stop() {
        this.finish('stopped', 1000);
    }

    /** Connects at once if waiting to retry (the network came back, the server answered). */
    reconnectNow() {
        if (this.state !== 'waiting')
            return;
        this.clearRetry();
        this.open();
    }

    /** True once welcomed, until the connection drops. */
    get isOpen() {
        return this.state === 'open';
    }

    /**
     * Sends a message if the channel is open.
     * @param {Record<string, unknown> & {type: string}} message
     * @returns {boolean} false when it could not be sent (not open)
     */
    send(message) {
        if (this.state !== 'open' || !this.socket)
            return false;
        try {
            this.socket.send(JSON.stringify(message));
            return true;
        } catch {
            return false;
        }
    }

    /** @private */
    open() {
        this.setState('connecting');
        /** @type {WebSocket} */
        let socket;
        try {
            socket = new this.WebSocketImpl(this.url);
        } catch {
            this.retry();
            return;
        }
        this.socket = socket;
        socket.addEventListener('open', () => {
            if (socket !== this.socket)
                return;
            this.heardAt = Date.now();
            socket.send(JSON.stringify({type: 'hello', token: this.token}));
        });
        socket.addEventListener('message', event => {
            if (socket === this.socket)
                this.received(event.data);
        });
        socket.addEventListener('close', event => {
            if (socket === this.socket)
                this.closed(event.code, event.reason);
        });
        // 'error' is always followed by 'close', which decides.
    }

    /**
     * @private
     * @param {unknown} data
     */
    received(data) {
        this.heardAt = Date.now();
        /** @type {unknown} */
        let parsed;
        try {
            parsed = JSON.parse(String(data));
        } catch {
            return;
        }
        if (!parsed || typeof parsed !== 'object' || !('type' in parsed) || typeof parsed.type !== 'string')
            return;
        const message = /** @type {ServerMessage} */ (parsed);
        if (message.type === 'error')
            this.lastError = String(message.code || '');
        this.room.apply(message);
        if (message.type === 'welcome') {
            this.welcome = /** @type {Welcome} */ (message);
            this.attempt = 0;
            this.lastError = '';
            this.startPings();
            this.setState('open');
        }
        this.dispatchEvent(new CustomEvent(message.type, {detail: message}));
        this.dispatchEvent(new CustomEvent('message', {detail: message}));
    }

    /**
     * @private
     * @param {number} code
     * @param {string} reason
     */
    closed(code, reason) {
        this.socket = null;
        this.stopPings();
        const final = finalEnd(code, reason || this.lastError);
        if (final)
            this.finish(final, 0);
        else
            this.retry();
    }

    /** @private */
    retry() {
        this.socket = null;
        this.stopPings();
        if (this.end !== null)
            return;
        this.attempt += 1;
        const wait = this.delay(this.attempt);
        this.retryAt = Date.now() + wait;
        this.clearRetry();
        this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.open();
        }, wait);
        this.setState('waiting');
    }

    /**
     * @private
     * @param {ChannelEnd} end
     * @param {number} code the close code to send (0: the server closed it)
     */
    finish(end, code) {
        if (this.end !== null)
            return;
        this.end = end;
        this.clearRetry();
        this.stopPings();
        const socket = this.socket;
        this.socket = null;
        if (socket && code) {
            try {
                socket.close(code);
            } catch {
                // Closed meanwhile.
            }
        }
        this.setState('closed');
    }

    /** @private */
    startPings() {
        this.stopPings();
        if (!this.keepalive)
            return;
        this.pingTimer = setInterval(() => {
            if (Date.now() - this.heardAt > this.silenceLimit) {
                // A dead path often closes nothing: drop the socket and make a new one.
                const socket = this.socket;
                this.socket = null;
                try {
                    socket?.close();
                } catch {
                    // Already closing.
                }
                this.retry();
                return;
            }
            this.send({type: 'ping'});
        }, this.keepalive);
    }

    /** @private */
    stopPings() {
        if (this.pingTimer)
            clearInterval(this.pingTimer);
        this.pingTimer = null;
    }

    /** @private */
    clearRetry() {
        if (this.retryTimer)
            clearTimeout(this.retryTimer);
        this.retryTimer = null;
    }

    /**
     * @private
     * @param {ChannelState} state
     */
    setState(state) {
        if (state === this.state)
            return;
        this.state = state;
        this.dispatchEvent(new Event('statechange'));
    }
}

/**
 * Whether a close ends the channel for good, and why; null when a retry may succeed (the
 * network, a server restart, a slow reader closed with 4503, a hello that took too long).
 * @param {number} code
 * @param {string} reason the close reason, or the last error code the server sent
 * @returns {ChannelEnd|null}
 */
export function finalEnd(code, reason) {
    switch (code) {
    case CLOSE.unauthorized:
        return 'unauthorized';
    case CLOSE.forbidden:
        if (reason === 'link_reissued')
            return 'replaced';
        return reason === 'removed' || reason === 'revoked' ? 'removed' : 'forbidden';
    case CLOSE.ended:
        return 'ended';
    default:
        return null;
    }
}
