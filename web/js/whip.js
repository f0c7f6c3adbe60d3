// @ts-check
/**
 * WHIP and WHEP clients (RFC 9725): publish a local stream, or play the broadcast.
 *
 * A hall's player may also receive the floor (the hall that has been given the floor): its
 * offer then holds two pairs of receivers, video and audio for the program, then video and
 * audio for the floor, and the server maps the second pair to the floor slot.
 *
 * No DOM here. The offer leaves at once; the candidates found later (a TURN relay may take
 * seconds) follow it as trickle ICE fragments PATCHed to the resource (RFC 9725 section 4.3,
 * RFC 8840). When the network changes under a connection, it restarts ICE over the same
 * resource before anyone tears it down. A server that answers PATCH with 405 or 501 gets
 * complete offers instead, and no restarts.
 *
 * A refusal is an HttpError (httperror.js); a connection kept up across failures is a
 * ReconnectingSession (reconnecting.js).
 */

import {HttpError, refusal, unanswered} from './httperror.js';

export {classify} from './httperror.js';

/** How long to wait for ICE gathering, for a server that takes no trickled candidates, in ms:
 * long enough for a TURN relay candidate over TCP. */
const NO_TRICKLE_GATHERING = 10000;

/** Candidates found within this many ms of each other go in one PATCH. */
const TRICKLE_BATCH = 20;

/** How long a PATCH may take, in ms. */
const PATCH_TIMEOUT = 10000;

/** How long ICE may stay 'disconnected' before it is restarted, in ms. */
const RESTART_AFTER = 2000;

/** How long an ICE restart may take to connect again before the connection is given up, in ms. */
const RESTART_WINDOW = 10000;

/** RFC 8840's media type. */
const FRAGMENT = 'application/trickle-ice-sdpfrag';

/** Endpoints whose server answered a PATCH with 405 or 501: their offers wait for gathering. */
const noTrickle = new Set();

/** How long to wait for the server's answer, in ms. */
const ANSWER_TIMEOUT = 15000;

/** How long stop() waits for the DELETE before closing the connection anyway, in ms. */
const DELETE_TIMEOUT = 2000;

/**
 * A candidate found locally, waiting to be PATCHed.
 * @typedef {Object} PendingCandidate
 * @property {string} mid its media section
 * @property {string} candidate the 'candidate:…' attribute value
 * @property {string|null} ufrag the ICE generation it belongs to
 */

/**
 * One WHIP or WHEP resource: the peer connection and the URL to DELETE when done. It trickles
 * the candidates its connection finds, and restarts ICE when the network changes.
 *
 * Dispatches 'connectionstatechange' (read `state`) whenever the peer connection's
 * state changes, including the final 'closed' after stop(), and when an ICE restart begins
 * or ends.
 */
export class MediaSession extends EventTarget {
    /**
     * @param {RTCPeerConnection} pc
     * @param {string} token
     * @param {MediaStream} stream the stream sent (publish) or received (play)
     * @param {string} [endpoint] the WHIP or WHEP endpoint it was offered to
     */
    constructor(pc, token, stream, endpoint = '') {
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
        /** @type {string} */
        this.endpoint = endpoint;
        /** @type {string|null} the server's ETag of the ICE session (If-Match of every PATCH) */
        this.etag = null;
        /** @type {string|null} the answer as applied, to restart ICE on */
        this.answerSdp = null;
        /** True once the server refused a PATCH (405, 501): no trickle, no ICE restart. */
        this.trickleRefused = noTrickle.has(endpoint);
        /** True while an ICE restart is under way: `state` says 'disconnected' meanwhile. */
        this.recovering = false;
        /** True once an ICE restart failed: `state` says 'failed' from then on. */
        this.gaveUp = false;
        /** @private ICE was up once: only then is a failure a network change to recover from */
        this.connectedOnce = false;
        /** @private one up at each ICE restart: a PATCH of an older one says nothing now */
        this.generation = 0;
        /** @type {Set<string>} candidates the offer carried, not to be trickled again */
        this.offered = new Set();
        /** @private @type {PendingCandidate[]} */
        this.pending = [];
        /** @private the gathering of this ICE generation is over, and not yet said */
        this.endPending = false;
        /** @private */
        this.patching = false;
        /** @private */
        this.restarting = false;
        /** @private @type {ReturnType<typeof setTimeout>|null} */
        this.batchTimer = null;
        /** @private @type {ReturnType<typeof setTimeout>|null} */
        this.restartTimer = null;
        /** @private @type {ReturnType<typeof setTimeout>|null} */
        this.windowTimer = null;
        pc.addEventListener('connectionstatechange', () => this.changed());
        pc.addEventListener('icecandidate', e => this.found(e.candidate));
        pc.addEventListener('iceconnectionstatechange', () => this.iceChanged());
    }

    /**
     * The peer connection's state, 'closed' once stopped; 'disconnected' while an ICE restart
     * is under way, 'failed' once one failed.
     * @returns {RTCPeerConnectionState}
     */
    get state() {
        const state = this.pc.connectionState;
        if (this.stopped || state === 'closed')
            return 'closed';
        if (this.gaveUp)
            return 'failed';
        return this.recovering ? 'disconnected' : state;
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
        this.clearTimers();
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

    /**
     * A candidate the connection found (null or empty: its gathering is over), to PATCH.
     * @private
     * @param {RTCIceCandidate|null} candidate
     */
    found(candidate) {
        if (this.stopped || this.trickleRefused)
            return;
        if (!candidate || !candidate.candidate) {
            this.endPending = true;
        } else if (!this.offered.has(candidate.candidate)) {
            this.pending.push({
                mid: candidate.sdpMid ?? firstMid(this.pc.localDescription?.sdp || ''),
                candidate: candidate.candidate,
                ufrag: candidate.usernameFragment,
            });
        }
        this.scheduleTrickle();
    }

    /** Sends the candidates found so far soon, in one PATCH, once the resource is known. */
    scheduleTrickle() {
        if (this.batchTimer || this.patching || this.restarting || !this.resourceUrl)
            return;
        this.batchTimer = setTimeout(() => {
            this.batchTimer = null;
            void this.trickle();
        }, TRICKLE_BATCH);
    }

    /**
     * PATCHes the candidates found since the last PATCH, and the end of gathering.
     * @private
     */
    async trickle() {
        if (this.stopped || this.trickleRefused || this.patching || this.restarting)
            return;
        const credentials = iceCredentials(this.pc.localDescription?.sdp || '');
        // Candidates of an ICE generation a restart has replaced are of no use to anyone.
        const current = credentials ? credentials.ufrag : null;
        const batch = this.pending.filter(c => !c.ufrag || !current || c.ufrag === current);
        this.pending = [];
        const end = this.endPending;
        this.endPending = false;
        if (!batch.length && !end)
            return;
        const generation = this.generation;
        this.patching = true;
        try {
            const response = await this.patch(buildFragment({
                ufrag: credentials?.ufrag ?? null,
                pwd: credentials?.pwd ?? null,
                mid: firstMid(this.pc.localDescription?.sdp || ''),
                candidates: batch,
                end,
            }), this.etag);
            if (response.status === 405 || response.status === 501)
                this.refuseTrickle();
            else if (response.ok && response.headers.get('ETag') && generation === this.generation)
                this.etag = response.headers.get('ETag');
            // 412: the ICE session restarted since; its own fragment carried what counts.
        } catch {
            // The server is out of reach: ICE may still connect with what it has.
        } finally {
            this.patching = false;
        }
        if (this.pending.length || this.endPending)
            this.scheduleTrickle();
    }

    /**
     * Restarts ICE over the same resource (RFC 9725 section 4.3.2): a new local ufrag and
     * password PATCHed with `If-Match: *`, and the server's new ones and candidates applied as
     * the answer. DTLS and SRTP carry on; no new resource, no new join. Throws an HttpError when
     * the server refuses (404 gone, 412, 405 or 501: it cannot restart) or does not answer.
     * @returns {Promise<void>}
     */
    async restartIce() {
        const pc = this.pc;
        if (this.stopped || !this.resourceUrl || !this.answerSdp)
            throw new HttpError(0, 'no_resource', 'nothing to restart');
        if (this.trickleRefused)
            throw new HttpError(501, 'not_implemented', 'the server takes no PATCH');
        this.restarting = true;
        this.generation += 1;
        try {
            await pc.setLocalDescription(await pc.createOffer({iceRestart: true}));
            const sdp = pc.localDescription?.sdp || '';
            const credentials = iceCredentials(sdp);
            if (!credentials)
                throw new HttpError(0, 'no_offer', 'the restart offer has no ICE credentials');
            const mid = firstMid(sdp);
            const candidates = candidatesOf(sdp).map(candidate => ({mid, candidate}));
            for (const c of candidates)
                this.offered.add(c.candidate);
            this.endPending = false;
            const response = await this.patch(
                buildFragment({...credentials, mid, candidates, end: false}), '*');
            if (response.status === 405 || response.status === 501)
                this.refuseTrickle();
            if (response.status !== 200)
                throw await refusal(response);
            const fragment = parseFragment(await response.text());
            if (!fragment.ufrag || !fragment.pwd)
                throw new HttpError(200, 'bad_fragment', 'the server answered without ICE credentials');
            this.etag = response.headers.get('ETag');
            const answer = withIce(this.answerSdp, fragment);
            await pc.setRemoteDescription({type: 'answer', sdp: answer});
            this.answerSdp = answer;
        } catch (e) {
            // Back to the last description, so that a later restart or a new offer can begin.
            if (pc.signalingState === 'have-local-offer')
                await pc.setLocalDescription({type: 'rollback'}).catch(() => {});
            if (e instanceof HttpError)
                throw e;
            throw unanswered(e);
        } finally {
            this.restarting = false;
        }
        this.scheduleTrickle();
    }

    /**
     * @private
     * @param {string} body a trickle ICE fragment
     * @param {string|null} ifMatch
     * @returns {Promise<Response>}
     */
    async patch(body, ifMatch) {
        /** @type {Record<string, string>} */
        const headers = {'Content-Type': FRAGMENT, Authorization: `Bearer ${this.token}`};
        if (ifMatch)
            headers['If-Match'] = ifMatch;
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), PATCH_TIMEOUT);
        try {
            return await fetch(this.resourceUrl || '', {
                method: 'PATCH', headers, body, cache: 'no-store', signal: controller.signal,
            });
        } catch (e) {
            throw unanswered(e);
        } finally {
            clearTimeout(timer);
        }
    }

    /**
     * An older server: no more PATCHes here, and the next offers to it wait for gathering.
     * @private
     */
    refuseTrickle() {
        this.trickleRefused = true;
        this.pending = [];
        if (this.endpoint)
            noTrickle.add(this.endpoint);
    }

    /**
     * ICE went 'failed', or 'disconnected' for RESTART_AFTER: restart it; back up: done.
     * @private
     */
    iceChanged() {
        const state = this.pc.iceConnectionState;
        if (state === 'connected' || state === 'completed') {
            this.connectedOnce = true;
            this.clearTimers({batch: false});
            if (this.recovering) {
                this.recovering = false;
                this.changed();
            }
        } else if (state === 'failed') {
            void this.recover();
        } else if (state === 'disconnected' && !this.restartTimer) {
            this.restartTimer = setTimeout(() => {
                this.restartTimer = null;
                const now = this.pc.iceConnectionState;
                if (now === 'disconnected' || now === 'failed')
                    void this.recover();
            }, RESTART_AFTER);
        }
    }

    /**
     * One ICE restart; gives up (state 'failed') if it is refused or does not connect within
     * RESTART_WINDOW. Does nothing where a restart cannot be tried (an older server, a
     * connection that never came up): the pages' own reconnect applies as before.
     * @private
     */
    async recover() {
        if (this.recovering || this.gaveUp || this.stopped || this.trickleRefused
            || !this.connectedOnce || !this.answerSdp || this.pc.signalingState !== 'stable')
            return;
        this.recovering = true;
        this.changed();
        this.windowTimer = setTimeout(() => this.giveUp(), RESTART_WINDOW);
        try {
            await this.restartIce();
        } catch {
            this.giveUp();
        }
    }

    /** @private */
    giveUp() {
        this.clearTimers({batch: false});
        if (!this.recovering || this.stopped)
            return;
        this.recovering = false;
        this.gaveUp = true;
        this.changed();
    }

    /**
     * @private
     * @param {{batch?: boolean}} [options] batch false to keep the next PATCH's timer
     */
    clearTimers({batch = true} = {}) {
        for (const timer of [batch ? this.batchTimer : null, this.restartTimer, this.windowTimer]) {
            if (timer)
                clearTimeout(timer);
        }
        if (batch)
            this.batchTimer = null;
        this.restartTimer = this.windowTimer = null;
    }
}

/**
 * @typedef {Object} PublishOptions
 * @property {'VP8'|'H264'} [videoCodec] preferred video codec, VP8 unless said
 * @property {number} [maxVideoBitrate] bits per second the video may use (a hall's return feed)
 * @property {number} [maxFramerate] frames per second the video may use
 * @property {RTCIceServer[]} [iceServers] the TURN servers /me gives
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
    const pc = new RTCPeerConnection(configuration(options.iceServers));
    const session = new MediaSession(pc, token, stream, url);
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
 * @property {RTCIceServer[]} [iceServers] the TURN servers /me gives
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
    const pc = new RTCPeerConnection(configuration(options.iceServers));
    const stream = new MediaStream();
    const session = new MediaSession(pc, token, stream, url);
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
 * The peer connection's configuration: one transport for every m-line, as the server expects,
 * and the TURN servers, if any.
 * @param {RTCIceServer[]} [iceServers]
 * @returns {RTCConfiguration}
 */
function configuration(iceServers) {
    return {bundlePolicy: 'max-bundle', iceServers: iceServers || []};
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
 * The statistics of a connection that is up; null while it is not (or closed meanwhile).
 * @param {MediaSession|null} session
 * @returns {Promise<RTCStatsReport|null>}
 */
export async function statsOf(session) {
    if (!session || session.state !== 'connected')
        return null;
    try {
        return await session.pc.getStats();
    } catch {
        return null;
    }
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
    // Trickle: offer now, the candidates follow. A server that cannot take them needs them all.
    if (session.trickleRefused)
        await gathered(pc, NO_TRICKLE_GATHERING);
    const offer = pc.localDescription;
    if (!offer)
        throw new HttpError(0, 'no_offer', 'no local description');
    for (const candidate of candidatesOf(offer.sdp))
        session.offered.add(candidate);

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
        throw unanswered(e);
    } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
    }

    if (response.status !== 201 && response.status !== 200)
        throw await refusal(response);
    const location = response.headers.get('Location');
    if (location)
        session.resourceUrl = new URL(location, response.url || url).href;
    session.etag = response.headers.get('ETag');
    const answer = await response.text();
    if (!answer.startsWith('v=0')) {
        // Leave no resource behind on the server.
        await session.stop();
        throw new HttpError(response.status, 'bad_answer', 'the server answered without SDP');
    }
    await pc.setRemoteDescription({type: 'answer', sdp: answer});
    session.answerSdp = answer;
    // The candidates found while the offer was on its way.
    session.scheduleTrickle();
}

// ---- trickle ICE fragments (RFC 8840), pure ----

/**
 * The ICE credentials of an SDP description (with max-bundle every m-line has the same).
 * @param {string} sdp
 * @returns {{ufrag: string, pwd: string}|null}
 */
export function iceCredentials(sdp) {
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp);
    const pwd = /^a=ice-pwd:(\S+)/m.exec(sdp);
    return ufrag && pwd ? {ufrag: ufrag[1], pwd: pwd[1]} : null;
}

/**
 * The mid of the first media section: with max-bundle, the one that gathers.
 * @param {string} sdp
 * @returns {string}
 */
export function firstMid(sdp) {
    const mid = /^a=mid:(\S+)/m.exec(sdp);
    return mid ? mid[1] : '0';
}

/**
 * The 'candidate:…' values in an SDP description or fragment.
 * @param {string} sdp
 * @returns {string[]}
 */
export function candidatesOf(sdp) {
    return sdp.split(/\r?\n/).filter(line => line.startsWith('a=candidate:')).map(line => line.slice(2));
}

/**
 * @typedef {Object} IceFragment
 * @property {string|null} ufrag
 * @property {string|null} pwd
 * @property {string} mid the media section it names first
 * @property {{mid: string, candidate: string}[]} candidates
 * @property {boolean} end the sender's gathering is over
 */

/**
 * A trickle ICE fragment: the credentials, then one media section a mid with its candidates
 * (the m= line only frames them; the server goes by a=mid) and, once gathering is over,
 * a=end-of-candidates.
 * @param {IceFragment} fragment
 * @returns {string}
 */
export function buildFragment({ufrag, pwd, mid, candidates, end}) {
    const lines = ufrag && pwd ? [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`] : [];
    const mids = candidates.length ? [...new Set(candidates.map(c => c.mid))] : [mid];
    for (const m of mids) {
        lines.push('m=audio 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${m}`);
        for (const c of candidates.filter(c => c.mid === m))
            lines.push(`a=${c.candidate}`);
    }
    // One transport for all (max-bundle): its gathering is over for every section.
    if (end)
        lines.push('a=end-of-candidates');
    return lines.join('\r\n') + '\r\n';
}

/**
 * Reads a trickle ICE fragment: the server's, answering an ICE restart.
 * @param {string} text
 * @returns {IceFragment}
 */
export function parseFragment(text) {
    /** @type {IceFragment} */
    const fragment = {ufrag: null, pwd: null, mid: '', candidates: [], end: false};
    let mid = '';
    for (const line of text.split(/\r?\n/)) {
        if (line.startsWith('a=ice-ufrag:'))
            fragment.ufrag = line.slice('a=ice-ufrag:'.length);
        else if (line.startsWith('a=ice-pwd:'))
            fragment.pwd = line.slice('a=ice-pwd:'.length);
        else if (line.startsWith('a=mid:'))
            mid = line.slice('a=mid:'.length);
        else if (line.startsWith('a=candidate:'))
            fragment.candidates.push({mid, candidate: line.slice(2)});
        else if (line === 'a=end-of-candidates')
            fragment.end = true;
        if (mid && !fragment.mid)
            fragment.mid = mid;
    }
    fragment.mid = fragment.mid || '0';
    return fragment;
}

/**
 * The answer `sdp` after an ICE restart: the fragment's credentials in place of the old ones,
 * its candidates in place of the old candidates (in the media section it names, else the
 * first), the session version one up. Nothing else changes: WHIP renegotiates only ICE.
 * @param {string} sdp
 * @param {IceFragment} fragment
 * @returns {string}
 */
export function withIce(sdp, fragment) {
    const lines = sdp.split(/\r?\n/).filter(line => line !== '');
    /** @type {string[][]} the session part, then each media section */
    const sections = [[]];
    for (const line of lines) {
        if (line.startsWith('m='))
            sections.push([]);
        if (line.startsWith('a=candidate:') || line === 'a=end-of-candidates')
            continue;
        sections[sections.length - 1].push(
            line.startsWith('a=ice-ufrag:') ? `a=ice-ufrag:${fragment.ufrag}`
                : line.startsWith('a=ice-pwd:') ? `a=ice-pwd:${fragment.pwd}`
                    : line.startsWith('o=') ? nextVersion(line) : line);
    }
    const media = sections.slice(1);
    const target = media.find(section => section.includes(`a=mid:${fragment.mid}`)) || media[0];
    if (target) {
        target.push(...fragment.candidates.map(c => `a=${c.candidate}`));
        if (fragment.end)
            target.push('a=end-of-candidates');
    }
    return sections.flat().join('\r\n') + '\r\n';
}

/**
 * An o= line with its session version one up (RFC 3264 section 8: a changed description).
 * @param {string} line
 * @returns {string}
 */
function nextVersion(line) {
    const fields = line.split(' ');
    const version = Number(fields[2]);
    if (fields.length >= 3 && Number.isSafeInteger(version))
        fields[2] = String(version + 1);
    return fields.join(' ');
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
