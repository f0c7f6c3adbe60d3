// @ts-check
/**
 * The commune hall's page: opening the link is enough.
 *
 * It asks the server what the link is for (/me, every 5 s), connects over WHEP as soon as
 * the session is scheduled or live (so the picture comes up by itself when the broadcast
 * begins), plays it full-screen, and reconnects by itself with backoff (reconnecting.js)
 * until the session ends or the link turns out to be invalid.
 *
 * The hall also reports how many people are present (and corrects it) from a small button
 * in the toolbar, which hides with the toolbar while the broadcast plays.
 *
 * The hybrid meeting: from the moment it joins, the page also sends the hall's camera (small,
 * at a low bitrate) and its microphone, silent until the chair gives the hall the floor, over
 * WHIP to /whip/{session}/{site} (uplink.js); with no camera it still joins and receives.
 * One button asks for the floor ("Xin phát biểu") over the control channel (control.js).
 * While another hall has the floor, its picture shows beside the broadcast and its sound
 * plays; while this hall has it, the page says plainly that it is on air.
 *
 * The return feed's size and bitrate come from the link's query, e.g. ?camera=180&kbps=200:
 * camera 180, 270 or 360 (lines; 640x360 unless said), kbps 100 to 1000 (300 unless said).
 */

import {byId as $, setText} from './dom.js';
import {CheckinPanel} from './checkinpanel.js';
import {Headcam} from './headcam.js';
import {SessionApi} from './api.js';
import {
    applyI18n, bindLanguageButtons, formatDateTime, formatNumber, formatTime, initI18n,
    onLanguageChange, t,
} from './i18n.js';
import {ControlChannel, controlUrl} from './control.js';
import {forgetToken, takeToken} from './token.js';
import {HttpError} from './httperror.js';
import {PictureSampler} from './picture.js';
import {ReconnectingSession} from './reconnecting.js';
import {Uplink} from './uplink.js';
import {play, receivedBy} from './whip.js';

/** @typedef {import('./control.js').ServerMessage} ServerMessage */

/** How often to ask the server about the session, in ms. */
const POLL_INTERVAL = 5000;
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

/**
 * What the page shows in its card. The last six are final: nothing is tried any more.
 * 'removed': the chair removed this hall from the session (or its invitation was withdrawn);
 * 'replaced': the office re-issued this hall's link, so this page's one no longer works.
 * @typedef {'loading'|'unreachable'|'scheduled'|'live'|'ended'|'invalid'|'not_found'|'unsupported'|'removed'|'replaced'} Phase
 */

/** @type {ReadonlySet<Phase>} */
const FINAL = new Set(['ended', 'invalid', 'not_found', 'unsupported', 'removed', 'replaced']);

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
const headcountDialog = /** @type {HTMLDialogElement} */ ($('headcount'));
const headcountInput = /** @type {HTMLInputElement} */ ($('headcount-input'));

/** @type {SessionApi|null} */
let api = null;
/** @type {CheckinPanel|null} the QR code and the clerk's list, while live */
let checkin = null;
/** @type {import('./api.js').Me|null} */
let me = null;
/** @type {Phase} */
let phase = 'loading';

/**
 * The program (and the floor) as this hall receives it, made again with backoff whenever it
 * breaks, until the session ends or the link turns out to be invalid.
 * @type {ReconnectingSession|null}
 */
let player = null;
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

/** The hall's return feed: its camera and microphone, and the connection that sends them. */
const uplink = new Uplink({
    url: `/whip/${encodeURIComponent(sessionId)}/${encodeURIComponent(siteId)}`,
    token: token || '',
    iceServers: () => me?.ice_servers,
    heard: () => onAir() && !(channel && channel.room.muted.has(siteId)),
    over: () => FINAL.has(phase),
    invalid: () => void poll(), // /me says whether this hall was removed or the link is wrong
    changed: render,
});
const headcam = new Headcam(sessionId, siteId, token || ''); // the camera's count of the people
/** Whether the return feed was started (once, when the session is first known). */
let uplinkStarted = false;

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

/** @returns {import('./whip.js').MediaSession|null} the player's connection now, if any */
function media() {
    return player ? player.session : null;
}

/** @returns {boolean} */
function flowing() {
    const session = media();
    return session !== null && session.state === 'connected' && Date.now() - flow.lastAt < FLOW_WINDOW;
}

/** @returns {boolean} true while the player waits to connect again */
function retrying() {
    return player !== null && player.state === 'waiting';
}

/** @returns {'server'|'connection'} what the player waits for: the server back, or the connection */
function retryReason() {
    const error = player ? player.lastError : null;
    return error instanceof HttpError && error.retryable ? 'server' : 'connection';
}

async function main() {
    await initI18n();
    bindLanguageButtons(document);
    onLanguageChange(render);
    bindControls();
    window.addEventListener('pagehide', () => {
        void player?.stop();
        void uplink.sender?.stop();
        channel?.stop();
    });
    setInterval(tick, 1000);
    // For people checking the sound from the browser's console, and for the tests.
    Object.assign(window, {diemcau: {floorStats, uplinkState: () => uplink.state()}});

    if (!sessionId || !siteId || !token) {
        finish('invalid');
        return;
    }
    api = new SessionApi(sessionId, token);
    checkin = new CheckinPanel(api, siteId, () => channel);
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
    const wasUnreachable = phase === 'unreachable' || (retrying() && retryReason() === 'server');
    me = answer;
    const state = answer.session.state;
    if (state === 'ended') {
        finish('ended');
        return;
    }
    phase = state;
    startMeeting();
    const session = media();
    if (!session && !(player && player.state === 'connecting')) {
        // First time, or the server is back while we wait to retry: don't wait longer.
        if (!retrying() || wasUnreachable)
            connectNow();
    } else if (before !== null && before !== state && !flowing()) {
        // The broadcast began (or stopped) and no media flows here yet: give the connection
        // a few seconds to bring it, then start afresh; at once if it isn't even connected.
        if (session && session.state === 'connected')
            flow.deadline = Date.now() + STATE_CHANGE_GRACE;
        else
            connectNow();
    }
    render();
}

/** Drops any connection or pending retry and connects at once. */
function connectNow() {
    if (FINAL.has(phase) || !token)
        return;
    if (player) {
        player.restart();
        return;
    }
    if (typeof RTCPeerConnection === 'undefined') {
        finish('unsupported');
        return;
    }
    const kept = new ReconnectingSession(() => {
        if (!me || !me.whep_url)
            return Promise.reject(new Error('no WHEP URL yet'));
        return play(me.whep_url, token, {floor: true, iceServers: me.ice_servers});
    });
    kept.addEventListener('session', () => {
        if (kept.session)
            attach(kept.session);
    });
    kept.addEventListener('statechange', () => playerChanged(kept));
    player = kept;
    kept.start();
    render();
}

/**
 * The player connected, lost its connection, waits, or was refused for good.
 * @param {ReconnectingSession} kept
 */
function playerChanged(kept) {
    if (kept !== player)
        return;
    const failure = kept.failure;
    if (failure) {
        switch (failure.failure) {
        case 'invalid_link':
            forgetToken(tokenKey);
            finish(failure.error === 'revoked' ? 'removed' : 'invalid');
            return;
        case 'ended':
            finish('ended');
            return;
        case 'not_found':
            finish('not_found');
            return;
        default: // the codec
            finish('unsupported');
            return;
        }
    }
    if (kept.state === 'connected')
        flow.deadline = Date.now() + STALL_LIMIT;
    else if (kept.state === 'waiting' && kept.lastError === null)
        void poll(); // the connection broke: has the session ended?
    render();
}

/**
 * A new connection: play it.
 * @param {import('./whip.js').MediaSession} session
 */
function attach(session) {
    flow.frames = 0;
    flow.audioBytes = 0;
    flow.lastAt = 0;
    flow.flowingSince = 0;
    flow.deadline = Date.now() + STALL_LIMIT;
    video.srcObject = session.stream;
    floorVideo.srcObject = session.floorStream;
    floorPicture.reset();
    void startPlayback();
}

/**
 * Stops everything for good and shows why.
 * @param {Phase} final
 */
function finish(final) {
    phase = final;
    const kept = player;
    player = null;
    void kept?.stop({tellServer: false});
    if (pollTimer)
        clearTimeout(pollTimer);
    pollTimer = null;
    video.srcObject = null;
    floorVideo.srcObject = null;
    uplink.stop();
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
        channel.addEventListener('message', event => {
            heard(/** @type {CustomEvent<ServerMessage>} */ (event).detail);
        });
        channel.start();
    }
    if (!uplinkStarted) {
        uplinkStarted = true;
        void headcam.open().finally(() => uplink.start()); // the camera at the counting size first
    }
}

function channelChanged() {
    if (!channel)
        return;
    switch (channel.end) {
    case 'removed':
    case 'replaced':
        forgetToken(tokenKey);
        finish(channel.end);
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
    uplink.applyMicrophone();
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
    const session = media();
    return floorHolder() !== null && session !== null && session.floorStream !== null
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
    mic.dataset.muted = String(mutedByChair || !uplink.hasMicrophone);
    setText(mic, !uplink.hasMicrophone ? t('floor.no_microphone')
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

/**
 * The floor's inbound bytes and packets by kind, as this hall receives them; null while
 * there is no connection. For people checking the sound, and for the tests.
 * @returns {Promise<{video: import('./whip.js').ReceivedCounts, audio: import('./whip.js').ReceivedCounts}|null>}
 */
async function floorStats() {
    const session = media();
    return session ? receivedBy(session.floorTransceivers.map(x => x.receiver)) : null;
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
    const session = media();
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
            if (phase === 'live' && session === media() && now > flow.deadline) {
                // Live, connected, and nothing comes: the server may have lost our track.
                player?.abandon();
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
    uplink.render(!FINAL.has(phase) && phase !== 'loading');
    checkin?.render(phase);
    headcam.render(phase);

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
    case 'replaced':
        return [t('join.replaced'), t('join.replaced_detail'), t('join.replaced_note')];
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
    const session = media();
    if (FINAL.has(phase) || phase === 'loading') {
        text = '';
    } else if (retrying()) {
        const seconds = Math.max(1, Math.ceil(((player ? player.retryAt : 0) - Date.now()) / 1000));
        text = retryReason() === 'server'
            ? t('status.server_retry', {seconds})
            : t('status.reconnecting', {seconds});
    } else if (notice && headcount.last) {
        text = t('headcount.saved', {
            n: formatNumber(headcount.last.present), time: formatTime(headcount.last.ts),
        });
    } else if (!session || session.state === 'new' || session.state === 'connecting') {
        text = t('status.connecting');
    } else if (session.recovering) {
        text = t('status.recovering');
    } else if (session.state === 'disconnected') {
        text = t('status.unstable');
    } else if (flowing()) {
        text = t('status.receiving');
        quiet = Date.now() - flow.flowingSince > STATUS_LINGER;
    } else {
        text = t('status.waiting');
    }
    setText(status, text);
    status.hidden = !text || (quiet && !notice);
    status.dataset.tone = retrying() ? 'warn' : notice || flowing() ? 'ok' : 'info';
}

// The attributes are applied once the catalogs load; render() fills the rest.
main().catch(() => {
    applyI18n(document);
    phase = 'unreachable';
    render();
});
