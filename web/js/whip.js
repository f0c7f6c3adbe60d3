// @ts-check
/**
 * WHIP and WHEP clients (RFC 9725): publish a local stream, or play the broadcast.
 *
 * A hall's player may also receive the floor (the hall that has been given the floor): its
 * offer then holds two pairs of receivers, video and audio for the program, then video and
 * audio for the floor, and the server maps the second pair to the floor slot.
 *
 * No DOM here. The server does not trickle ICE, so the offer is sent once ICE gathering
 * is complete (or after two seconds, with the candidates found so far).
 */

/** How long to wait for ICE gathering before sending the offer anyway, in ms. */
const GATHERING_TIMEOUT = 2000;

/** How long to wait for the server's answer, in ms. */
const ANSWER_TIMEOUT = 15000;

/** How long stop() waits for the DELETE before closing the connection anyway, in ms. */
const DELETE_TIMEOUT = 2000;

/**
 * Why an offer was not answered, from the HTTP status and error code:
 *   'invalid_link' 401/403, 'not_found' 404, 'codec' 406, 'ended' 409 session_ended,
 *   'conflict' other 409 (not live, already published…), 'server' 5xx or 429,
 *   'network' no HTTP answer at all, 'protocol' anything else.
 * @typedef {'invalid_link'|'not_found'|'codec'|'ended'|'conflict'|'server'|'network'|'protocol'} WhipFailure
 */

/**
 * A failed WHIP or WHEP request.
 */
export class WhipError extends Error {
    /**
     * @param {number} status HTTP status, 0 when the server could not be reached
     * @param {string} error the server's error code, or a local one
     * @param {string} message
     */
    constructor(status, error, message) {
        super(message);
        this.name = 'WhipError';
        /** @type {number} */
        this.status = status;
        /** @type {string} */
        this.error = error;
        /** @type {WhipFailure} */
        this.failure = classify(status, error);
    }

    /** True when trying again later may succeed (server restarting, network down). */
    get retryable() {
        return this.failure === 'server' || this.failure === 'network';
    }
}

/**
 * @param {number} status
 * @param {string} [error]
 * @returns {WhipFailure}
 */
export function classify(status, error) {
    if (status === 0)
        return 'network';
    if (status === 401 || status === 403)
        return 'invalid_link';
    if (status === 404)
        return 'not_found';
    if (status === 406)
        return 'codec';
    if (status === 409)
        return error === 'session_ended' ? 'ended' : 'conflict';
    if (status === 429 || status >= 500)
        return 'server';
    return 'protocol';
}

/**
 * One WHIP or WHEP resource: the peer connection and the URL to DELETE when done.
 *
 * Dispatches 'connectionstatechange' (read `state`) whenever the peer connection's
 * state changes, including the final 'closed' after stop().
 */
export class MediaSession extends EventTarget {
    /**
     * @param {RTCPeerConnection} pc
     * @param {string} token
     * @param {MediaStream} stream the stream sent (publish) or received (play)
     */
    constructor(pc, token, stream) {
        super();
        /** @type {RTCPeerConnection} */
        this.pc = pc;
        /** @type {MediaStream} */
        this.stream = stream;
        /** @type {MediaStream|null} the floor's tracks, for a player that asked for them */
        this.floorStream = null;
        /** @type {RTCRtpTransceiver[]} the floor slot's receivers (video, audio), if any */
        this.floorTransceivers = [];
        /** @type {string|null} the resource created by the server (Location), null until answered */
        this.resourceUrl = null;
        /** @type {boolean} */
        this.stopped = false;
        /** @type {string} */
        this.token = token;
        pc.addEventListener('connectionstatechange', () => this.changed());
    }

    /**
     * The peer connection's state, 'closed' once stopped.
     * @returns {RTCPeerConnectionState}
     */
    get state() {
        return this.stopped ? 'closed' : this.pc.connectionState;
    }

    /** @private */
    changed() {
        this.dispatchEvent(new Event('connectionstatechange'));
    }

    /**
     * Deletes the resource on the server, then closes the peer connection (in that order:
     * a server that sees the connection close first drops the resource, and the DELETE
     * would find nothing). Safe to call more than once, and from 'pagehide': the DELETE
     * leaves at once and with keepalive.
     * @param {{tellServer?: boolean}} [options] tellServer false when the server has already
     *     dropped the resource (the session ended) or would refuse (the link is invalid)
     * @returns {Promise<void>}
     */
    async stop({tellServer = true} = {}) {
        if (this.stopped)
            return;
        this.stopped = true;
        // A connection that failed or was closed by the server has no resource left.
        const gone = this.pc.connectionState === 'failed' || this.pc.connectionState === 'closed';
        const url = this.resourceUrl;
        if (url && tellServer && !gone) {
            const controller = new AbortController();
            const timer = setTimeout(() => controller.abort(), DELETE_TIMEOUT);
            try {
                await fetch(url, {
                    method: 'DELETE',
                    headers: {Authorization: `Bearer ${this.token}`},
                    keepalive: true,
                    signal: controller.signal,
                });
            } catch {
                // The server went away; it drops the resource with the connection.
            } finally {
                clearTimeout(timer);
            }
        }
        this.pc.close();
        this.changed();
    }
}

/**
 * @typedef {Object} PublishOptions
 * @property {'VP8'|'H264'} [videoCodec] preferred video codec, VP8 unless said
 * @property {number} [maxVideoBitrate] bits per second the video may use (a hall's return feed)
 * @property {number} [maxFramerate] frames per second the video may use
 * @property {AbortSignal} [signal]
 */

/**
 * Publishes a stream over WHIP. The tracks are sent as they are: the caller keeps
 * ownership of the stream (stop() closes the connection, not the camera).
 * @param {string} url the WHIP endpoint
 * @param {string} token bearer token
 * @param {MediaStream} stream
 * @param {PublishOptions} [options]
 * @returns {Promise<MediaSession>}
 */
export async function publish(url, token, stream, options = {}) {
    const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
    const session = new MediaSession(pc, token, stream);
    try {
        for (const track of stream.getTracks()) {
            /** @type {RTCRtpEncodingParameters} */
            const encoding = {};
            if (track.kind === 'video' && options.maxVideoBitrate)
                encoding.maxBitrate = options.maxVideoBitrate;
            if (track.kind === 'video' && options.maxFramerate)
                encoding.maxFramerate = options.maxFramerate;
            const transceiver = pc.addTransceiver(track, {
                direction: 'sendonly',
                streams: [stream],
                sendEncodings: Object.keys(encoding).length ? [encoding] : undefined,
            });
            if (track.kind === 'video')
                preferCodec(transceiver, options.videoCodec || 'VP8');
        }
        await negotiate(session, url, options.signal);
        if (firstTrack(stream, 'video') && (options.maxVideoBitrate || options.maxFramerate))
            await limitVideo(pc, options.maxVideoBitrate, options.maxFramerate);
        return session;
    } catch (e) {
        pc.close();
        throw e;
    }
}

/**
 * @typedef {Object} PlayOptions
 * @property {boolean} [audio] false for a picture only (a mosaic tile); true unless said
 * @property {boolean} [floor] also receive the floor (a hall's player): a second video and
 *     audio pair, after the program's
 * @property {AbortSignal} [signal]
 */

/**
 * Plays over WHEP: the broadcast, the floor, or one hall's return feed, as the URL says. The
 * returned session's `stream` receives the remote tracks (and `floorStream` the floor's,
 * when asked); they may carry no frames until their source begins.
 * @param {string} url the WHEP endpoint
 * @param {string} token bearer token
 * @param {PlayOptions} [options]
 * @returns {Promise<MediaSession>}
 */
export async function play(url, token, options = {}) {
    const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
    const stream = new MediaStream();
    const session = new MediaSession(pc, token, stream);
    const floorStream = options.floor ? new MediaStream() : null;
    session.floorStream = floorStream;
    pc.addEventListener('track', e => {
        const target = floorStream && session.floorTransceivers.includes(e.transceiver)
            ? floorStream : stream;
        if (!target.getTracks().includes(e.track))
            target.addTrack(e.track);
    });
    try {
        // The order is the contract: the server gives the first pair the program (or the one
        // source the URL names), the second pair the floor.
        const kinds = options.audio === false ? ['video'] : ['video', 'audio'];
        for (const kind of kinds)
            pc.addTransceiver(kind, {direction: 'recvonly'});
        if (floorStream) {
            for (const kind of kinds)
                session.floorTransceivers.push(pc.addTransceiver(kind, {direction: 'recvonly'}));
        }
        await negotiate(session, url, options.signal);
        return session;
    } catch (e) {
        pc.close();
        throw e;
    }
}

/**
 * Bytes and packets received so far by some receivers, by kind, from their own statistics.
 * @param {RTCRtpReceiver[]} receivers
 * @returns {Promise<{video: ReceivedCounts, audio: ReceivedCounts}>}
 */
export async function receivedBy(receivers) {
    const counts = {
        video: {bytes: 0, packets: 0, lost: 0, frames: 0},
        audio: {bytes: 0, packets: 0, lost: 0, frames: 0},
    };
    for (const receiver of receivers) {
        const kind = receiver.track.kind === 'audio' ? 'audio' : 'video';
        (await receiver.getStats()).forEach(report => {
            if (report.type !== 'inbound-rtp')
                return;
            counts[kind].bytes += report.bytesReceived || 0;
            counts[kind].packets += report.packetsReceived || 0;
            counts[kind].lost += Math.max(0, report.packetsLost || 0);
            counts[kind].frames += report.framesDecoded || 0;
        });
    }
    return counts;
}

/**
 * @typedef {Object} ReceivedCounts
 * @property {number} bytes
 * @property {number} packets
 * @property {number} lost packets the sender sent that never arrived
 * @property {number} frames decoded (video)
 */

/**
 * The first track of a kind in a stream, or null.
 * @param {MediaStream} stream
 * @param {'audio'|'video'} kind
 * @returns {MediaStreamTrack|null}
 */
function firstTrack(stream, kind) {
    return stream.getTracks().find(t => t.kind === kind) || null;
}

/**
 * Caps the video sender's bitrate and frame rate through its parameters; for browsers that
 * ignored the encodings given when the transceiver was made.
 * @param {RTCPeerConnection} pc
 * @param {number} [maxBitrate] bits per second
 * @param {number} [maxFramerate]
 */
async function limitVideo(pc, maxBitrate, maxFramerate) {
    for (const sender of pc.getSenders()) {
        if (!sender.track || sender.track.kind !== 'video')
            continue;
        const parameters = sender.getParameters();
        if (!parameters.encodings || !parameters.encodings.length)
            parameters.encodings = [{}];
        const encoding = parameters.encodings[0];
        if (encoding.maxBitrate === maxBitrate && encoding.maxFramerate === maxFramerate)
            continue;
        if (maxBitrate)
            encoding.maxBitrate = maxBitrate;
        if (maxFramerate)
            encoding.maxFramerate = maxFramerate;
        try {
            await sender.setParameters(parameters);
        } catch {
            // Not supported here: the browser's own rate control applies.
        }
    }
}

/**
 * Puts `codec` first in the transceiver's preferences, the other codecs after it so that
 * the server may still pick one it supports. Does nothing where the browser can't.
 * @param {RTCRtpTransceiver} transceiver
 * @param {string} codec 'VP8' or 'H264'
 */
export function preferCodec(transceiver, codec) {
    if (typeof transceiver.setCodecPreferences !== 'function')
        return;
    const wanted = `video/${codec}`.toLowerCase();
    // Older Chromes accept only the receiver's capabilities here, newer ones either.
    for (const source of [RTCRtpReceiver, RTCRtpSender]) {
        const capabilities = source.getCapabilities && source.getCapabilities('video');
        if (!capabilities)
            continue;
        const codecs = capabilities.codecs.slice();
        const rank = (/** @type {RTCRtpCodec} */ c) => {
            if (c.mimeType.toLowerCase() !== wanted)
                return 2;
            // Among H.264 profiles, constrained baseline with packetization-mode=1 decodes everywhere.
            const fmtp = c.sdpFmtpLine || '';
            return codec === 'H264' && !/42e01f/.test(fmtp) ? 1 : 0;
        };
        codecs.sort((a, b) => rank(a) - rank(b));
        try {
            transceiver.setCodecPreferences(codecs);
            return;
        } catch {
            // Try the other capability list.
        }
    }
}

/**
 * Sends the offer, applies the answer, remembers the resource URL.
 * @param {MediaSession} session
 * @param {string} url
 * @param {AbortSignal} [signal]
 */
async function negotiate(session, url, signal) {
    const pc = session.pc;
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, GATHERING_TIMEOUT);
    const offer = pc.localDescription;
    if (!offer)
        throw new WhipError(0, 'no_offer', 'no local description');

    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), ANSWER_TIMEOUT);
    const abort = () => controller.abort();
    signal?.addEventListener('abort', abort);
    /** @type {Response} */
    let response;
    try {
        response = await fetch(url, {
            method: 'POST',
            headers: {
                'Content-Type': 'application/sdp',
                Authorization: `Bearer ${session.token}`,
            },
            body: offer.sdp,
            cache: 'no-store',
            signal: controller.signal,
        });
    } catch (e) {
        if (signal?.aborted)
            throw e;
        throw new WhipError(0, 'network', e instanceof Error ? e.message : String(e));
    } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
    }

    if (response.status !== 201 && response.status !== 200)
        throw await failure(response);
    const location = response.headers.get('Location');
    if (location)
        session.resourceUrl = new URL(location, response.url || url).href;
    const answer = await response.text();
    if (!answer.startsWith('v=0')) {
        // Leave no resource behind on the server.
        await session.stop();
        throw new WhipError(response.status, 'bad_answer', 'the server answered without SDP');
    }
    await pc.setRemoteDescription({type: 'answer', sdp: answer});
}

/**
 * @param {Response} response
 * @returns {Promise<WhipError>}
 */
async function failure(response) {
    let error = `http_${response.status}`;
    let message = response.statusText;
    try {
        const body = await response.json();
        if (body && typeof body.error === 'string')
            error = body.error;
        if (body && typeof body.message === 'string')
            message = body.message;
    } catch {
        // Not JSON: keep the status.
    }
    return new WhipError(response.status, error, message);
}

/**
 * Resolves once ICE gathering is complete, or after `timeout` ms.
 * @param {RTCPeerConnection} pc
 * @param {number} timeout
 * @returns {Promise<void>}
 */
function gathered(pc, timeout) {
    if (pc.iceGatheringState === 'complete')
        return Promise.resolve();
    return new Promise(resolve => {
        const done = () => {
            clearTimeout(timer);
            pc.removeEventListener('icegatheringstatechange', check);
            resolve();
        };
        const check = () => {
            if (pc.iceGatheringState === 'complete')
                done();
        };
        const timer = setTimeout(done, timeout);
        pc.addEventListener('icegatheringstatechange', check);
    });
}

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
 * Keeps one WHIP or WHEP resource up: connects, and whenever the connection fails, stays
 * disconnected past a grace period, or is refused for a reason a retry may cure (network,
 * server restarting), connects again with backoff. The refusals in FINAL_FAILURES end it.
 *
 * Dispatches 'session' when a new MediaSession is made (read `session`), and 'statechange'.
 */
export class ReconnectingSession extends EventTarget {
    /**
     * @param {() => Promise<MediaSession>} connect makes one connection (publish() or play())
     * @param {{grace?: number, delay?: (attempt: number) => number}} [options]
     */
    constructor(connect, options = {}) {
        super();
        /** @private */
        this.connect = connect;
        /** @private */
        this.grace = options.grace ?? DISCONNECTED_GRACE;
        /** @private */
        this.delay = options.delay || backoff;
        /** @type {KeptState} */
        this.state = 'idle';
        /** @type {MediaSession|null} the connection now, if any */
        this.session = null;
        /** @type {WhipError|null} why it ended, when refused for good */
        this.failure = null;
        /** Attempts since the last connection that came up. */
        this.attempt = 0;
        /** When the next attempt starts (ms since the epoch), while 'waiting'. */
        this.retryAt = 0;
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
     */
    stop(options = {}) {
        this.clearTimers();
        const session = this.session;
        this.session = null;
        this.setState('ended');
        void session?.stop(options);
    }

    /** Drops the connection (or the wait for the next attempt) and connects again at once. */
    restart() {
        if (this.state === 'ended' || this.state === 'connecting')
            return;
        this.clearTimers();
        const session = this.session;
        this.session = null;
        void session?.stop();
        this.attempt = 0;
        void this.open();
    }

    /** @private */
    async open() {
        this.setState('connecting');
        /** @type {MediaSession} */
        let session;
        try {
            session = await this.connect();
        } catch (e) {
            if (this.state === 'ended')
                return;
            if (e instanceof WhipError && FINAL_FAILURES.has(e.failure)) {
                this.failure = e;
                this.stop({tellServer: false});
                return;
            }
            this.retry();
            return;
        }
        if (this.state === 'ended') {
            void session.stop();
            return;
        }
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
            this.graceTimer = setTimeout(() => this.lost(session), this.grace);
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
