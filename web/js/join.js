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
 */

import {ApiError, SessionApi} from './api.js';
import {
    applyI18n, bindLanguageButtons, formatDateTime, formatNumber, formatTime, initI18n,
    onLanguageChange, t,
} from './i18n.js';
import {forgetToken, takeToken} from './token.js';
import {backoff, play, WhipError} from './whip.js';

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

/**
 * What the page shows in its card. The last four are final: nothing is tried any more.
 * @typedef {'loading'|'unreachable'|'scheduled'|'live'|'ended'|'invalid'|'not_found'|'unsupported'} Phase
 */

/** @type {ReadonlySet<Phase>} */
const FINAL = new Set(['ended', 'invalid', 'not_found', 'unsupported']);

const [sessionId, siteId] = location.pathname.split('/').slice(2, 4).map(part => {
    try {
        return decodeURIComponent(part);
    } catch {
        return ''; // A malformed link: said to be invalid.
    }
});
const tokenKey = `diemcau.token.join.${sessionId}.${siteId}`;
const token = takeToken(tokenKey);

/** @param {string} id */
const $ = id => /** @type {HTMLElement} */ (document.getElementById(id));
const video = /** @type {HTMLVideoElement} */ ($('video'));
const headcountDialog = /** @type {HTMLDialogElement} */ ($('headcount'));
const headcountInput = /** @type {HTMLInputElement} */ ($('headcount-input'));

/**
 * Sets an element's text only when it changes, so live regions don't repeat themselves.
 * @param {HTMLElement} element
 * @param {string} text
 */
function setText(element, text) {
    if (element.textContent !== text)
        element.textContent = text;
}

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
    window.addEventListener('pagehide', () => media?.stop());
    setInterval(tick, 1000);

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
        if (!(e instanceof ApiError))
            throw e;
        if (e.invalidLink) {
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
        const session = await play(me.whep_url, token);
        if (FINAL.has(phase)) {
            void session.stop({tellServer: false});
            return;
        }
        attach(session);
    } catch (e) {
        if (e instanceof WhipError) {
            switch (e.failure) {
            case 'invalid_link':
                forgetToken(tokenKey);
                finish('invalid');
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
            disconnectTimer = setTimeout(() => lost(session), DISCONNECTED_GRACE);
            break;
        case 'failed':
        case 'closed':
            lost(session);
            break;
        }
        renderStatus();
    });
    video.srcObject = session.stream;
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
    render();
}

/** Plays with sound if the browser lets us; muted with the one big button otherwise. */
async function startPlayback() {
    video.muted = muted;
    try {
        await video.play();
    } catch (e) {
        if (!(e instanceof DOMException) || e.name !== 'NotAllowedError' || video.muted)
            return; // AbortError: a newer stream replaced this one.
        muted = true;
        video.muted = true;
        render();
        try {
            await video.play();
        } catch {
            // Replaced meanwhile; the next attach plays again.
        }
    }
}

function unmute() {
    muted = false;
    video.muted = false;
    void video.play().catch(() => {});
    render();
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
        if (!(e instanceof ApiError))
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
            const stats = await session.pc.getStats();
            let frames = 0;
            let audioBytes = 0;
            stats.forEach(report => {
                if (report.type !== 'inbound-rtp')
                    return;
                if (report.kind === 'video')
                    frames += report.framesDecoded || 0;
                else if (report.kind === 'audio')
                    audioBytes += report.bytesReceived || 0;
            });
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

    const showPicture = (phase === 'live' || phase === 'scheduled') && flowing();
    $('card').hidden = showPicture;
    document.body.dataset.phase = phase;
    document.body.dataset.picture = String(showPicture);

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
        && !document.querySelector('.toolbar:focus-within') && !headcountDialog.open;
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
