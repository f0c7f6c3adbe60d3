// @ts-check
/**
 * The commune hall's page: opening the link is enough.
 *
 * It asks the server what the link is for (/me, every 5 s), connects over WHEP as soon as
 * the session is scheduled or live (so the picture comes up by itself when the broadcast
 * begins), plays it full-screen, and reconnects by itself with backoff until the session
 * ends or the link turns out to be invalid.
 *
 * The hall also reports how many people are present (and corrects it) from a small button
 * in the toolbar, which hides with the toolbar while the broadcast plays.
 *
 * The hybrid meeting: from the moment it joins, the page also sends the hall's camera (small,
 * at a low bitrate) and its microphone, silent until the chair gives the hall the floor, over
 * WHIP to /whip/{session}/{site}; with no camera it still joins and receives. One button asks
 * for the floor ("Xin phát biểu") over the control channel (control.js). While another hall
 * has the floor, its picture shows beside the broadcast and its sound plays; while this hall
 * has it, the page says plainly that it is on air.
 *
 * The return feed's size and bitrate come from the link's query, e.g. ?camera=180&kbps=200:
 * camera 180, 270 or 360 (lines; 640x360 unless said), kbps 100 to 1000 (300 unless said).
 */

import {byId as $, setText} from './dom.js';
import {SessionApi} from './api.js';
import {
    applyI18n, bindLanguageButtons, formatDateTime, formatNumber, formatTime, initI18n,
    onLanguageChange, t,
} from './i18n.js';
import {ControlChannel, controlUrl} from './control.js';
import {forgetToken, takeToken} from './token.js';
import {backoff} from './backoff.js';
import {HttpError} from './httperror.js';
import {PictureSampler} from './picture.js';
import {ReconnectingSession} from './reconnecting.js';
import {play, publish, receivedBy} from './whip.js';

/** @typedef {import('./control.js').ServerMessage} ServerMessage */

/** How often to ask the server about the session, in ms. */
const POLL_INTERVAL = 5000;
/** How long 'disconnected' may last before the connection is dropped and made again, in ms. */
const DISCONNECTED_GRACE = 4000;
/** Media counts as flowing while frames or audio arrived this recently, in ms. */
const FLOW_WINDOW = 3000;
/** While live, a connection that brings nothing for this long is made again, in ms. */
const STALL_LIMIT = 15000;
/** After the session's state changed, media should flow within this long, in ms. */
const STATE_CHANGE_GRACE = 5000;
/** The status line stays this long once media flows, then hides, in ms. */
const STATUS_LINGER = 3000;
/** Controls hide after this long without the pointer moving, while media flows, in ms. */
const IDLE_AFTER = 3000;
/** How long the status line confirms a headcount just reported, in ms. */
const HEADCOUNT_NOTICE = 5000;
/** The largest count the server takes. */
const HEADCOUNT_MAX = 1_000_000;

/** The return feed's sizes, by lines. */
const UPLINK_SIZES = /** @type {Record<string, {width: number, height: number}>} */ ({
    180: {width: 320, height: 180},
    270: {width: 480, height: 270},
    360: {width: 640, height: 360},
});
/** The return feed's bitrate limits, kbit/s. */
const UPLINK_KBPS = {min: 100, max: 1000, default: 300};
/** The return feed's frame rate: a hall, not a sports field. */
const UPLINK_FPS = 15;

/**
 * What the page shows in its card. The last five are final: nothing is tried any more.
 * 'removed': the chair removed this hall from the session (or its invitation was withdrawn).
 * @typedef {'loading'|'unreachable'|'scheduled'|'live'|'ended'|'invalid'|'not_found'|'unsupported'|'removed'} Phase
 */

/** @type {ReadonlySet<Phase>} */
const FINAL = new Set(['ended', 'invalid', 'not_found', 'unsupported', 'removed']);

/**
 * Why the hall sends no camera or microphone: the keys of the 'uplink.*' messages.
 * @typedef {'starting'|'denied'|'none'|'insecure'|'failed'} DeviceProblem
 */

const [sessionId, siteId] = location.pathname.split('/').slice(2, 4).map(part => {
    try {
        return decodeURIComponent(part);
    } catch {
        return ''; // A malformed link: said to be invalid.
    }
});
const tokenKey = `diemcau.token.join.${sessionId}.${siteId}`;
const token = takeToken(tokenKey);

const video = /** @type {HTMLVideoElement} */ ($('video'));
const floorVideo = /** @type {HTMLVideoElement} */ ($('floor-video'));
const selfVideo = /** @type {HTMLVideoElement} */ ($('self-video'));
const headcountDialog = /** @type {HTMLDialogElement} */ ($('headcount'));
const headcountInput = /** @type {HTMLInputElement} */ ($('headcount-input'));

/** @type {SessionApi|null} */
let api = null;
/** @type {import('./api.js').Me|null} */
let me = null;
/** @type {Phase} */
let phase = 'loading';

/** @type {import('./whip.js').MediaSession|null} */
let media = null;
let connecting = false;
/** Reconnection attempts since the last good connection. */
let attempt = 0;
/** @type {ReturnType<typeof setTimeout>|null} */
let retryTimer = null;
let retryAt = 0;
/** @type {'server'|'connection'} */
let retryReason = 'connection';
/** @type {ReturnType<typeof setTimeout>|null} */
let disconnectTimer = null;
/** @type {ReturnType<typeof setTimeout>|null} */
let pollTimer = null;
let polling = false;

/**
 * Media flow, from getStats(): counters, when they last grew, since when they grow, and
 * by when they must grow while live (else the connection is made again).
 */
const flow = {frames: 0, audioBytes: 0, lastAt: 0, flowingSince: 0, deadline: Infinity};

/** Set when the browser refused to play with sound until someone clicks. */
let muted = false;

/** @type {ControlChannel|null} */
let channel = null;
/** Whether a request or its cancellation was just sent, until the queue says. */
let requestSent = false;
/** Whether the floor's picture arrives. */
const floorPicture = new PictureSampler();

/**
 * The hall's return feed: its camera and microphone, and the connection that sends them.
 */
const uplink = {
    /** @type {MediaStream|null} */
    stream: null,
    /** @type {ReconnectingSession|null} */
    sender: null,
    started: false,
    /** @type {DeviceProblem|null} */
    problem: null,
};

/** When the pointer or keyboard was last used (ms): controls hide after IDLE_AFTER. */
let lastActivity = Date.now();

/**
 * The hall's headcount: the last count reported (by this page or another in the hall, as
 * /me tells), whether a report is under way, what went wrong with the last one (a catalog
 * key), and until when the status line confirms it (ms).
 */
const headcount = {
    /** @type {import('./api.js').Headcount|null} */
    last: null,
    sending: false,
    /** @type {{key: string, vars?: Record<string, string|number>}|null} */
    problem: null,
    noticeUntil: 0,
};

/** @returns {boolean} */
function flowing() {
    return media !== null && media.state === 'connected' && Date.now() - flow.lastAt < FLOW_WINDOW;
}

async function main() {
    await initI18n();
    bindLanguageButtons(document);
    onLanguageChange(render);
    bindControls();
    window.addEventListener('pagehide', () => {
        void media?.stop();
        uplink.sender?.stop();
        channel?.stop();
    });
    setInterval(tick, 1000);
    // For people checking the sound from the browser's console, and for the tests.
    Object.assign(window, {diemcau: {floorStats, uplinkState}});

    if (!sessionId || !siteId || !token) {
        finish('invalid');
        return;
    }
    api = new SessionApi(sessionId, token);
    await poll();
}

/** Asks the server about the session, then again in POLL_INTERVAL. */
async function poll() {
    if (polling || !api || FINAL.has(phase))
        return; // One question at a time: the one under way will answer this one too.
    polling = true;
    if (pollTimer)
        clearTimeout(pollTimer);
    pollTimer = null;
    try {
        await refresh(api);
    } finally {
        polling = false;
    }
    if (!FINAL.has(phase))
        pollTimer = setTimeout(poll, POLL_INTERVAL);
}

/**
 * @param {SessionApi} api
 */
async function refresh(api) {
    /** @type {import('./api.js').Me} */
    let answer;
    try {
        answer = await api.me();
    } catch (e) {
        if (!(e instanceof HttpError))
            throw e;
        if (e.error === 'revoked') {
            forgetToken(tokenKey);
            finish('removed');
        } else if (e.invalidLink) {
            forgetToken(tokenKey);
            finish('invalid');
        } else if (e.status === 404) {
            finish('not_found');
        } else if (e.error === 'session_ended') {
            finish('ended');
        } else if (!me) {
            // Never reached the server yet: say so, keep polling.
            phase = 'unreachable';
            render();
        }
        return;
    }
    if (answer.role !== 'site' || !answer.whep_url) {
        finish('invalid');
        return;
    }
    takeHeadcount(answer.headcount);
    const before = me ? me.session.state : null;
    const wasUnreachable = phase === 'unreachable' || (retryTimer !== null && retryReason === 'server');
    me = answer;
    const state = answer.session.state;
    if (state === 'ended') {
        finish('ended');
        return;
    }
    phase = state;
    startMeeting();
    if (!media && !connecting) {
        // First time, or the server is back while we wait to retry: don't wait longer.
        if (!retryTimer || wasUnreachable)
            connectNow();
    } else if (before !== null && before !== state && !flowing()) {
        // The broadcast began (or stopped) and no media flows here yet: give the connection
        // a few seconds to bring it, then start afresh; at once if it isn't even connected.
        if (media && media.state === 'connected')
            flow.deadline = Date.now() + STATE_CHANGE_GRACE;
        else
            connectNow();
    }
    render();
}

/** Drops any connection or pending retry and connects at once. */
function connectNow() {
    clearRetry();
    attempt = 0;
    dropMedia();
    void connect();
}

async function connect() {
    if (connecting || FINAL.has(phase) || !me || !me.whep_url || !token)
        return;
    connecting = true;
    renderStatus();
    try {
        const session = await play(me.whep_url, token, {floor: true, iceServers: me.ice_servers});
        if (FINAL.has(phase)) {
            void session.stop({tellServer: false});
            return;
        }
        attach(session);
    } catch (e) {
        if (e instanceof HttpError) {
            switch (e.failure) {
            case 'invalid_link':
                forgetToken(tokenKey);
                finish(e.error === 'revoked' ? 'removed' : 'invalid');
                return;
            case 'ended':
                finish('ended');
                return;
            case 'not_found':
                finish('not_found');
                return;
            case 'codec':
                finish('unsupported');
                return;
            default:
                scheduleRetry(e.retryable ? 'server' : 'connection');
                return;
            }
        }
        if (typeof RTCPeerConnection === 'undefined') {
            finish('unsupported');
            return;
        }
        scheduleRetry('connection');
    } finally {
        connecting = false;
        render();
    }
}

/**
 * @param {import('./whip.js').MediaSession} session
 */
function attach(session) {
    media = session;
    flow.frames = 0;
    flow.audioBytes = 0;
    flow.lastAt = 0;
    flow.flowingSince = 0;
    flow.deadline = Date.now() + STALL_LIMIT;
    session.addEventListener('connectionstatechange', () => {
        if (session !== media)
            return;
        if (disconnectTimer) {
            clearTimeout(disconnectTimer);
            disconnectTimer = null;
        }
        switch (session.state) {
        case 'connected':
            attempt = 0;
            flow.deadline = Date.now() + STALL_LIMIT;
            break;
        case 'disconnected':
            // An ICE restart under way ends in 'connected' or 'failed' by itself.
            disconnectTimer = setTimeout(() => {
                if (!session.recovering)
                    lost(session);
            }, DISCONNECTED_GRACE);
            break;
        case 'failed':
        case 'closed':
            lost(session);
            break;
        }
        renderStatus();
    });
    video.srcObject = session.stream;
    floorVideo.srcObject = session.floorStream;
    floorPicture.reset();
    void startPlayback();
}

/**
 * The connection broke: retry, and ask the server at once whether the session ended.
 * @param {import('./whip.js').MediaSession} session
 */
function lost(session) {
    if (session !== media)
        return;
    dropMedia();
    scheduleRetry('connection');
    void poll();
}

/**
 * @param {boolean} [tellServer] false once the session ended or the link turned out invalid
 */
function dropMedia(tellServer = true) {
    if (disconnectTimer) {
        clearTimeout(disconnectTimer);
        disconnectTimer = null;
    }
    if (media) {
        const old = media;
        media = null;
        void old.stop({tellServer});
    }
}

/**
 * @param {'server'|'connection'} reason
 */
function scheduleRetry(reason) {
    clearRetry();
    if (FINAL.has(phase))
        return;
    attempt += 1;
    const delay = backoff(attempt);
    retryReason = reason;
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(() => {
        retryTimer = null;
        void connect();
    }, delay);
    render();
}

function clearRetry() {
    if (retryTimer)
        clearTimeout(retryTimer);
    retryTimer = null;
}

/**
 * Stops everything for good and shows why.
 * @param {Phase} final
 */
function finish(final) {
    phase = final;
    clearRetry();
    dropMedia(false);
    if (pollTimer)
        clearTimeout(pollTimer);
    pollTimer = null;
    video.srcObject = null;
    floorVideo.srcObject = null;
    stopUplink();
    channel?.stop();
    render();
}

/** Plays with sound if the browser lets us; muted with the one big button otherwise. */
async function startPlayback() {
    video.muted = muted;
    floorVideo.muted = muted;
    void floorVideo.play().catch(() => {});
    try {
        await video.play();
    } catch (e) {
        if (!(e instanceof DOMException) || e.name !== 'NotAllowedError' || video.muted)
            return; // AbortError: a newer stream replaced this one.
        muted = true;
        video.muted = true;
        floorVideo.muted = true;
        render();
        try {
            await video.play();
            await floorVideo.play();
        } catch {
            // Replaced meanwhile; the next attach plays again.
        }
    }
}

function unmute() {
    muted = false;
    video.muted = false;
    floorVideo.muted = false;
    void video.play().catch(() => {});
    void floorVideo.play().catch(() => {});
    render();
}

// ---- the meeting: control channel, the floor, the return feed ----

/** Opens the control channel and starts sending the hall's camera, once. */
function startMeeting() {
    if (!token || FINAL.has(phase))
        return;
    if (!channel) {
        channel = new ControlChannel(controlUrl(sessionId, location.href), token);
        channel.addEventListener('statechange', channelChanged);
        channel.addEventListener('message', event => heard(/** @type {CustomEvent<ServerMessage>} */ (event).detail));
        channel.start();
    }
    if (!uplink.started) {
        uplink.started = true;
        void startUplink();
    }
}

function channelChanged() {
    if (!channel)
        return;
    switch (channel.end) {
    case 'removed':
        forgetToken(tokenKey);
        finish('removed');
        return;
    case 'unauthorized':
    case 'forbidden':
        forgetToken(tokenKey);
        finish('invalid');
        return;
    case 'ended':
        finish('ended');
        void fetchEndedAt();
        return;
    }
    if (!channel.isOpen)
        requestSent = false;
    applyMicrophone();
    render();
}

/**
 * One message of the control channel (the room copy is already updated).
 * @param {ServerMessage} message
 */
function heard(message) {
    switch (message.type) {
    case 'removed':
        if (message.site === siteId) {
            forgetToken(tokenKey);
            finish('removed');
            return;
        }
        break;
    case 'requests':
    case 'floor':
        requestSent = false;
        break;
    case 'error':
        requestSent = false;
        break;
    case 'session':
        sessionChanged(message.state);
        break;
    }
    applyMicrophone();
    render();
}

/**
 * The session went live or ended, as the channel says (the /me poll would say it later).
 * @param {string} state
 */
function sessionChanged(state) {
    if (!me || FINAL.has(phase))
        return;
    if (state === 'ended') {
        me.session.state = 'ended';
        finish('ended');
        void fetchEndedAt();
    } else if (state === 'live' && phase !== 'live') {
        void poll();
    }
}

/** The end time, for the card, once the session has ended. */
async function fetchEndedAt() {
    if (!api)
        return;
    try {
        me = await api.me();
    } catch {
        // The card says it ended; the time is a detail.
    }
    render();
}

/** True while this hall has the floor. */
function onAir() {
    return channel !== null && channel.isOpen && channel.room.floor === siteId;
}

/** The microphone is heard only while this hall has the floor and the chair has not muted it. */
function applyMicrophone() {
    const open = onAir() && !(channel && channel.room.muted.has(siteId));
    if (uplink.stream)
        for (const track of uplink.stream.getAudioTracks())
            track.enabled = open;
}

function toggleRequest() {
    if (!channel || !channel.isOpen || onAir() || requestSent)
        return;
    const asked = channel.room.requestPosition(siteId) > 0;
    if (channel.send({type: asked ? 'cancel_request' : 'request_floor'}))
        requestSent = true;
    render();
}

/**
 * The hall that has the floor, when it is another one than this; as last told while the
 * channel reconnects (the floor slots keep playing meanwhile).
 */
function floorHolder() {
    const holder = channel ? channel.room.floor : null;
    return holder && holder !== siteId ? holder : null;
}

/** True while another hall's picture and sound are shown beside the broadcast. */
function floorShown() {
    return floorHolder() !== null && media !== null && media.floorStream !== null
        && !FINAL.has(phase);
}

/**
 * The floor's picture and caption, the on-air sign, the request button.
 * @param {boolean} shown
 */
function renderFloor(shown) {
    document.body.dataset.floor = String(shown);
    const figure = $('floor');
    figure.hidden = !shown;
    const holder = floorHolder();
    const picture = shown && floorPicture.arriving();
    figure.dataset.picture = String(picture);
    const name = holder ? holderName(holder) : '';
    setText($('floor-caption'), holder ? t('floor.speaking', {site: name}) : '');
    const waiting = $('floor-waiting');
    setText(waiting, shown && !picture ? t('floor.listening', {site: name}) : '');
    waiting.hidden = picture || !shown;

    const live = !FINAL.has(phase) && onAir();
    const mutedByChair = channel !== null && channel.room.muted.has(siteId);
    $('on-air').hidden = !live;
    document.body.dataset.onAir = String(live);
    const mic = $('on-air-mic');
    mic.dataset.muted = String(mutedByChair || !hasMicrophone());
    setText(mic, !hasMicrophone() ? t('floor.no_microphone')
        : mutedByChair ? t('floor.mic_muted') : t('floor.mic_on'));

    const request = /** @type {HTMLButtonElement} */ ($('request'));
    const usable = channel !== null && !FINAL.has(phase) && phase !== 'loading';
    const place = channel ? channel.room.requestPosition(siteId) : 0;
    request.hidden = !usable || live;
    request.disabled = !channel || !channel.isOpen || requestSent;
    request.dataset.asked = String(place > 0);
    const label = $('request-label');
    label.dataset.i18n = place ? 'floor.cancel' : 'floor.request';
    setText(label, place ? t('floor.cancel') : t('floor.request'));

    const state = $('floor-state');
    /** @type {string} */
    let text = '';
    if (!FINAL.has(phase) && !live) {
        if (place)
            text = t('floor.requested', {n: formatNumber(place)});
        else if (mutedByChair)
            text = t('floor.muted_by_chair');
        else if (channel && channel.state === 'waiting')
            text = t('floor.channel_lost');
    }
    setText(state, text);
    state.hidden = !text;
    state.dataset.kind = place ? 'requested' : 'notice';
}

/**
 * The name of the hall that has the floor: the server's, when the message carries it, else
 * its id (a hall's page is not told the other halls' names).
 * @param {string} holder
 * @returns {string}
 */
function holderName(holder) {
    const room = channel ? channel.room : null;
    return room && room.floor === holder && room.floorName ? room.floorName : holder;
}

/** @returns {boolean} */
function hasMicrophone() {
    return uplink.stream !== null && uplink.stream.getAudioTracks().length > 0;
}

/**
 * The floor's inbound bytes and packets by kind, as this hall receives them; null while
 * there is no connection. For people checking the sound, and for the tests.
 * @returns {Promise<{video: import('./whip.js').ReceivedCounts, audio: import('./whip.js').ReceivedCounts}|null>}
 */
async function floorStats() {
    const session = media;
    return session ? receivedBy(session.floorTransceivers.map(x => x.receiver)) : null;
}

/**
 * What the hall sends: whether its camera goes out, whether its microphone is heard, how
 * the connection stands. For people checking from the browser's console, and for the tests.
 * @returns {{camera: boolean, microphone: 'on'|'off'|'none', sending: string}}
 */
function uplinkState() {
    const stream = uplink.stream;
    const audio = stream ? stream.getAudioTracks() : [];
    return {
        camera: stream !== null && stream.getVideoTracks().length > 0,
        microphone: audio.length === 0 ? 'none' : audio.some(x => x.enabled) ? 'on' : 'off',
        sending: uplink.sender ? uplink.sender.state : 'idle',
    };
}

/**
 * The return feed's size and bitrate, from the link's query (?camera=180&kbps=200).
 * @param {string} search
 * @returns {{width: number, height: number, kbps: number}}
 */
function uplinkSettings(search) {
    const query = new URLSearchParams(search);
    const size = UPLINK_SIZES[query.get('camera') || ''] || UPLINK_SIZES[360];
    const asked = Number(query.get('kbps'));
    const kbps = Number.isFinite(asked) && asked > 0
        ? Math.min(UPLINK_KBPS.max, Math.max(UPLINK_KBPS.min, Math.round(asked)))
        : UPLINK_KBPS.default;
    return {...size, kbps};
}

/**
 * Opens the hall's camera and microphone, whichever it has, and sends them; the
 * microphone stays silent until the hall has the floor.
 */
async function startUplink() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        uplink.problem = window.isSecureContext ? 'failed' : 'insecure';
        render();
        return;
    }
    const settings = uplinkSettings(location.search);
    const videoWanted = {
        width: {ideal: settings.width, max: 640},
        height: {ideal: settings.height, max: 360},
        frameRate: {ideal: UPLINK_FPS, max: 30},
    };
    const audioWanted = {echoCancellation: true, noiseSuppression: true, autoGainControl: true};
    uplink.problem = 'starting';
    render();
    /** @type {MediaStream|null} */
    let stream = null;
    /** @type {unknown} */
    let refusal = null;
    // Both, else whichever the hall has: a hall without a camera still joins and listens.
    for (const constraints of [
        {video: videoWanted, audio: audioWanted},
        {video: false, audio: audioWanted},
        {video: videoWanted, audio: false},
    ]) {
        try {
            stream = await navigator.mediaDevices.getUserMedia(constraints);
            break;
        } catch (e) {
            refusal = refusal || e;
            if (e instanceof DOMException && (e.name === 'NotAllowedError' || e.name === 'SecurityError'))
                break; // Asking again for less would not change the answer.
        }
    }
    if (FINAL.has(phase)) {
        stream?.getTracks().forEach(x => x.stop());
        return;
    }
    if (!stream) {
        uplink.problem = refusal instanceof DOMException && refusal.name === 'NotAllowedError'
            ? 'denied'
            : refusal instanceof DOMException && refusal.name === 'NotFoundError' ? 'none' : 'failed';
        render();
        return;
    }
    uplink.problem = null;
    uplink.stream = stream;
    applyMicrophone();
    selfVideo.srcObject = stream.getVideoTracks().length ? stream : null;
    void selfVideo.play().catch(() => {});
    const url = `/whip/${encodeURIComponent(sessionId)}/${encodeURIComponent(siteId)}`;
    const sender = new ReconnectingSession(() => publish(url, token || '', stream, {
        iceServers: me?.ice_servers,
        videoCodec: 'VP8',
        maxVideoBitrate: settings.kbps * 1000,
        maxFramerate: UPLINK_FPS,
    }));
    sender.addEventListener('statechange', () => {
        const failure = sender.failure;
        if (failure && failure.failure === 'invalid_link')
            void poll(); // /me says whether this hall was removed or the link is wrong
        render();
    });
    uplink.sender = sender;
    sender.start();
    render();
}

/**
 * @param {DeviceProblem} problem
 * @returns {string}
 */
function deviceProblemText(problem) {
    switch (problem) {
    case 'starting':
        return t('uplink.starting');
    case 'denied':
        return t('uplink.denied');
    case 'none':
        return t('uplink.none');
    case 'insecure':
        return t('uplink.insecure');
    default:
        return t('uplink.failed');
    }
}

function stopUplink() {
    uplink.sender?.stop({tellServer: false});
    uplink.sender = null;
    if (uplink.stream)
        for (const track of uplink.stream.getTracks())
            track.stop();
    uplink.stream = null;
    selfVideo.srcObject = null;
}

/** The small picture of what the hall sends, and whether its microphone is heard. */
function renderUplink() {
    const figure = $('self');
    const stream = uplink.stream;
    const camera = stream !== null && stream.getVideoTracks().length > 0;
    const showing = !FINAL.has(phase) && phase !== 'loading' && (stream !== null || uplink.problem !== null);
    figure.hidden = !showing;
    figure.dataset.camera = String(camera);
    const sender = uplink.sender;
    figure.dataset.sending = String(sender !== null && sender.state === 'connected');
    /** @type {string} */
    let caption;
    if (uplink.problem)
        caption = deviceProblemText(uplink.problem);
    else if (!camera)
        caption = t('uplink.no_camera');
    else if (sender && (sender.state === 'waiting' || sender.state === 'unstable'))
        caption = t('uplink.reconnecting');
    else if (sender && sender.state !== 'connected')
        caption = t('uplink.connecting');
    else
        caption = onAir() && hasMicrophone() && !(channel && channel.room.muted.has(siteId))
            ? t('uplink.sending_mic_on') : t('uplink.sending');
    setText($('self-caption'), caption);
}

// ---- headcount ----

/** @returns {boolean} */
function canReportHeadcount() {
    return api !== null && me !== null && (phase === 'scheduled' || phase === 'live');
}

/**
 * Keeps the newer of the count known here and the one the server tells.
 * @param {import('./api.js').Headcount|null|undefined} reported
 */
function takeHeadcount(reported) {
    if (!reported || typeof reported.present !== 'number')
        return;
    const known = headcount.last;
    if (!known || !(Date.parse(known.ts) > Date.parse(reported.ts)))
        headcount.last = {present: reported.present, ts: reported.ts};
}

function openHeadcount() {
    if (!canReportHeadcount() || headcountDialog.open)
        return;
    headcount.problem = null;
    headcountInput.value = headcount.last ? String(headcount.last.present) : '';
    render();
    headcountDialog.showModal();
    headcountInput.focus();
    headcountInput.select();
}

/**
 * Sends the number typed in the dialog; closes it once the server has it.
 * @param {SubmitEvent} event
 */
async function submitHeadcount(event) {
    event.preventDefault();
    if (headcount.sending || !api || !siteId)
        return;
    const text = headcountInput.value.trim();
    const present = Number(text);
    if (!/^[0-9]{1,7}$/.test(text) || present > HEADCOUNT_MAX) {
        headcount.problem = {key: 'headcount.invalid'};
        render();
        headcountInput.focus();
        return;
    }
    headcount.sending = true;
    headcount.problem = null;
    render();
    try {
        const answer = await api.reportHeadcount(siteId, present);
        headcount.last = {present: answer.present, ts: answer.ts};
        headcount.noticeUntil = Date.now() + HEADCOUNT_NOTICE;
        headcountDialog.close();
    } catch (e) {
        if (!(e instanceof HttpError))
            throw e;
        if (e.invalidLink) {
            headcountDialog.close();
            forgetToken(tokenKey);
            finish('invalid');
            return;
        }
        if (e.error === 'session_ended') {
            headcount.problem = {key: 'headcount.ended'};
            void poll();
        } else if (e.status === 422) {
            headcount.problem = {key: 'headcount.invalid'};
        } else if (e.status === 0) {
            headcount.problem = {key: 'headcount.network'};
        } else {
            headcount.problem = {key: 'headcount.failed', vars: {message: e.message || e.error}};
        }
    } finally {
        headcount.sending = false;
        render();
    }
}

function renderHeadcount() {
    const open = $('headcount-open');
    const allowed = canReportHeadcount();
    open.hidden = !allowed;
    const last = headcount.last;
    setText($('headcount-label'), last
        ? t('headcount.button', {n: formatNumber(last.present)})
        : t('headcount.button_none'));
    const site = me && me.site ? me.site : null;
    setText($('headcount-site'), site
        ? (site.expected > 0
            ? t('headcount.site_expected', {site: site.name, expected: formatNumber(site.expected)})
            : site.name)
        : '');
    setText($('headcount-last'), last
        ? t('headcount.last', {n: formatNumber(last.present), time: formatTime(last.ts)})
        : t('headcount.none'));
    const error = $('headcount-error');
    setText(error, headcount.problem ? t(headcount.problem.key, headcount.problem.vars) : '');
    error.hidden = !headcount.problem;
    headcountInput.setAttribute('aria-invalid', String(headcount.problem?.key === 'headcount.invalid'));
    const submit = /** @type {HTMLButtonElement} */ ($('headcount-submit'));
    submit.disabled = headcount.sending || !allowed;
    setText(submit, headcount.sending ? t('headcount.sending') : t('headcount.submit'));
    submit.dataset.i18n = headcount.sending ? 'headcount.sending' : 'headcount.submit';
    // The session ended or the link went bad meanwhile: nothing left to report, unless the
    // dialog is saying why.
    if (!allowed && headcountDialog.open && !headcount.problem)
        headcountDialog.close();
}

function toggleFullscreen() {
    if (document.fullscreenElement)
        void document.exitFullscreen().catch(() => {});
    else
        void document.documentElement.requestFullscreen().catch(() => {});
}

/** Every second: measure the media flow, redraw the countdown, hide idle controls. */
async function tick() {
    const session = media;
    if (session && session.state === 'connected') {
        try {
            const floorReceivers = session.floorTransceivers.map(x => x.receiver);
            const program = await receivedBy(
                session.pc.getReceivers().filter(x => !floorReceivers.includes(x)));
            const frames = program.video.frames;
            const audioBytes = program.audio.bytes;
            const floor = await receivedBy(floorReceivers);
            floorPicture.sample(floor.video.frames);
            const now = Date.now();
            if (frames > flow.frames || audioBytes > flow.audioBytes) {
                if (!flowing())
                    flow.flowingSince = now;
                flow.lastAt = now;
            }
            flow.frames = frames;
            flow.audioBytes = audioBytes;
            if (flow.lastAt === now)
                flow.deadline = now + STALL_LIMIT;
            if (phase === 'live' && session === media && now > flow.deadline) {
                // Live, connected, and nothing comes: the server may have lost our track.
                lost(session);
            }
        } catch {
            // Closed meanwhile.
        }
    }
    render();
}

function bindControls() {
    $('unmute').addEventListener('click', unmute);
    $('reload').addEventListener('click', () => location.reload());
    const fullscreen = $('fullscreen');
    if (!document.fullscreenEnabled)
        fullscreen.hidden = true;
    fullscreen.addEventListener('click', toggleFullscreen);
    video.addEventListener('dblclick', toggleFullscreen);
    document.addEventListener('fullscreenchange', render);
    $('headcount-open').addEventListener('click', openHeadcount);
    $('request').addEventListener('click', toggleRequest);
    $('headcount-close').addEventListener('click', () => headcountDialog.close());
    $('headcount-form').addEventListener('submit', event => void submitHeadcount(event));
    headcountDialog.addEventListener('close', () => {
        headcount.problem = null;
        render();
    });
    // The first frame: show the picture without waiting for the next tick.
    video.addEventListener('resize', render);
    const wake = () => {
        lastActivity = Date.now();
        document.body.classList.remove('idle');
    };
    for (const type of ['pointermove', 'pointerdown', 'keydown', 'touchstart'])
        document.addEventListener(type, wake, {passive: true});
}

function render() {
    const session = me ? me.session : null;
    const title = session ? session.title : '';
    document.title = title ? `${title} · ${t('join.doc_title')}` : t('join.doc_title');
    setText($('title'), title);
    setText($('site'), me && me.site ? me.site.name : '');

    const floor = floorShown();
    const showPicture = (phase === 'live' || phase === 'scheduled') && (flowing() || floor);
    $('card').hidden = showPicture;
    document.body.dataset.phase = phase;
    document.body.dataset.picture = String(showPicture);
    renderFloor(floor);
    renderUplink();

    const [headline, detail, note] = cardText(session);
    setText($('phase'), headline);
    setText($('detail'), detail);
    setText($('note'), note);
    $('reload').hidden = phase !== 'unsupported';

    $('unmute').hidden = !muted || FINAL.has(phase);
    const label = $('fullscreen-label');
    label.dataset.i18n = document.fullscreenElement ? 'join.fullscreen_exit' : 'join.fullscreen';
    setText(label, document.fullscreenElement ? t('join.fullscreen_exit') : t('join.fullscreen'));
    const idle = showPicture && Date.now() - lastActivity > IDLE_AFTER
        && !document.querySelector('.toolbar:focus-within') && !headcountDialog.open
        && !requestSent;
    document.body.classList.toggle('idle', idle);
    renderHeadcount();
    renderStatus();
}

/**
 * The card's three lines for the current phase: what is happening, when, what to do.
 * @param {import('./api.js').Session|null} session
 * @returns {[string, string, string]}
 */
function cardText(session) {
    switch (phase) {
    case 'loading':
        return [t('join.loading'), '', ''];
    case 'unreachable':
        return [t('join.unreachable'), t('join.unreachable_detail'), ''];
    case 'scheduled':
        return [
            t('join.scheduled'),
            session && session.scheduled_start
                ? t('join.scheduled_at', {time: formatDateTime(session.scheduled_start)}) : '',
            t('join.scheduled_note'),
        ];
    case 'live':
        return [t('join.live'), t('join.live_waiting'), ''];
    case 'ended':
        return [
            t('join.ended'),
            session && session.ended_at ? t('join.ended_at', {time: formatTime(session.ended_at)}) : '',
            t('join.ended_note'),
        ];
    case 'invalid':
        return [t('join.invalid'), t('join.invalid_detail'), ''];
    case 'not_found':
        return [t('join.not_found'), t('join.not_found_detail'), ''];
    case 'unsupported':
        return [t('join.unsupported'), t('join.unsupported_detail'), ''];
    case 'removed':
        return [t('join.removed'), t('join.removed_detail'), t('join.removed_note')];
    }
}

/** The small line in the corner: connecting, waiting, receiving, reconnecting in N s. */
function renderStatus() {
    const status = $('status');
    /** @type {string} */
    let text = '';
    let quiet = false;
    /** Just reported a headcount: say it was taken. */
    const notice = Date.now() < headcount.noticeUntil;
    if (FINAL.has(phase) || phase === 'loading') {
        text = '';
    } else if (retryTimer) {
        const seconds = Math.max(1, Math.ceil((retryAt - Date.now()) / 1000));
        text = retryReason === 'server'
            ? t('status.server_retry', {seconds})
            : t('status.reconnecting', {seconds});
    } else if (notice && headcount.last) {
        text = t('headcount.saved', {
            n: formatNumber(headcount.last.present), time: formatTime(headcount.last.ts),
        });
    } else if (connecting || !media || media.state === 'new' || media.state === 'connecting') {
        text = t('status.connecting');
    } else if (media.recovering) {
        text = t('status.recovering');
    } else if (media.state === 'disconnected') {
        text = t('status.unstable');
    } else if (flowing()) {
        text = t('status.receiving');
        quiet = Date.now() - flow.flowingSince > STATUS_LINGER;
    } else {
        text = t('status.waiting');
    }
    setText(status, text);
    status.hidden = !text || (quiet && !notice);
    status.dataset.tone = retryTimer ? 'warn' : notice || flowing() ? 'ok' : 'info';
}

// The attributes are applied once the catalogs load; render() fills the rest.
main().catch(() => {
    applyI18n(document);
    phase = 'unreachable';
    render();
});
