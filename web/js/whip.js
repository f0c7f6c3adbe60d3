// @ts-check
/**
 * WHIP and WHEP clients (RFC 9725): publish a local stream, or play the broadcast.
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
            const transceiver = pc.addTransceiver(track, {direction: 'sendonly', streams: [stream]});
            if (track.kind === 'video')
                preferCodec(transceiver, options.videoCodec || 'VP8');
        }
        await negotiate(session, url, options.signal);
        return session;
    } catch (e) {
        pc.close();
        throw e;
    }
}

/**
 * @typedef {Object} PlayOptions
 * @property {AbortSignal} [signal]
 */

/**
 * Plays the broadcast over WHEP. The returned session's `stream` receives the remote
 * audio and video tracks; they may carry no frames until the broadcast begins.
 * @param {string} url the WHEP endpoint
 * @param {string} token bearer token
 * @param {PlayOptions} [options]
 * @returns {Promise<MediaSession>}
 */
export async function play(url, token, options = {}) {
    const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
    const stream = new MediaStream();
    const session = new MediaSession(pc, token, stream);
    pc.addEventListener('track', e => {
        if (!stream.getTracks().includes(e.track))
            stream.addTrack(e.track);
    });
    try {
        pc.addTransceiver('video', {direction: 'recvonly'});
        pc.addTransceiver('audio', {direction: 'recvonly'});
        await negotiate(session, url, options.signal);
        return session;
    } catch (e) {
        pc.close();
        throw e;
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
