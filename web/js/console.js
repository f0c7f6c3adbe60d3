// @ts-check
/**
 * The district hall's console: preview the camera, go live over WHIP, watch the halls in the
 * mosaic, chair the meeting (the floor, requests, mutes, removals), end.
 *
 * Going live is an intent: once the operator has pressed "Phát trực tiếp", a broken
 * connection (network, server restart) is made again with backoff until the session ends,
 * and a reload of the tab resumes it.
 *
 * The meeting runs from the moment the page opens, live or not: the control channel
 * (control.js) tells who is here, who asks for the floor and who has it; the mosaic
 * (mosaic.js) plays each hall's camera; the floor player plays the hall that has the floor,
 * picture and sound, so that the district hall hears it through its loudspeakers.
 */

import {byId as $, pathPart, setText} from './dom.js';
import {SessionApi} from './api.js';
import {Camera} from './camera.js';
import {Chair} from './chair.js';
import {
    applyI18n, bindLanguageButtons, formatDateTime, formatDuration, formatNumber,
    formatPercent, formatTime, hasText, initI18n, onLanguageChange, t,
} from './i18n.js';
import {ControlChannel, controlUrl} from './control.js';
import {HttpError} from './httperror.js';
import {Mosaic} from './mosaic.js';
import {Outbound} from './outbound.js';
import {checkedInText, fillSiteRow, siteRow, sitesTotals} from './sitetable.js';
import {ReconnectingSession} from './reconnecting.js';
import {forgetToken, takeToken} from './token.js';
import {publish} from './whip.js';

/** @typedef {import('./control.js').ServerMessage} ServerMessage */

/** How often the sites list is asked for, in ms. */
const SITES_INTERVAL = 2000;

/**
 * What the page as a whole shows; all but 'ready' and 'ended' show a message in place of
 * the console. 'replaced': the office re-issued the console link, so this page's no longer works.
 * @typedef {'loading'|'ready'|'ended'|'invalid'|'replaced'|'not_found'|'unreachable'} Phase
 */

/**
 * Where publishing stands: 'idle' (not on air), 'connecting', 'live', 'retrying' (waiting
 * to connect again), 'stopping'.
 * @typedef {'idle'|'connecting'|'live'|'retrying'|'stopping'} Publishing
 */

const sessionId = pathPart(2);
const tokenKey = `diemcau.token.console.${sessionId}`;
const onAirKey = `diemcau.console.on-air.${sessionId}`;
const token = takeToken(tokenKey);

const confirmDialog = /** @type {HTMLDialogElement} */ ($('confirm-end'));

/** @type {SessionApi|null} */
let api = null;
/** @type {import('./api.js').Me|null} */
let me = null;
/** @type {Phase} */
let phase = 'loading';

const camera = new Camera({
    ready: () => phase === 'ready',
    captured: replaceSentTracks,
    changed: render,
});

/**
 * The program going out, from "go live" until "end" (or a refusal no retry changes): a
 * connection that breaks is made again with backoff.
 * @type {ReconnectingSession|null}
 */
let sender = null;
/** True while the session is being ended (the DELETE, then the API call). */
let stopping = false;

/**
 * One line of trouble for the operator, in words: a catalog key and its values.
 * @type {{key: string, vars?: Record<string, string|number>}|null}
 */
let alertMessage = null;

/** @type {import('./api.js').SitesReport|null} */
let sitesReport = null;
/** When the sites list last arrived (ms), and whether the last attempt failed. */
const sitesFreshness = {at: 0, failing: false};
/** @type {Map<string, HTMLTableRowElement>} */
const siteRows = new Map();

/** @type {ControlChannel|null} */
let channel = null;
/** @type {Mosaic|null} */
let mosaic = null;
const chair = new Chair({siteName});
/** Halls seen connected since this page opened: one that is not any more is reconnecting. */
const everConnected = new Set();
/**
 * Headcounts as last changed, by either source: the sites list (with the time it gives) or
 * the control channel (at once).
 */
const headcounts = {
    /** @type {Map<string, number|null>} */
    shown: new Map(),
    /** @type {Map<string, string|null>} the sites list's headcount_at, as last seen */
    listedAt: new Map(),
};

/** What goes out, as the browser measures it. */
const outbound = new Outbound();

async function main() {
    await initI18n();
    bindLanguageButtons(document);
    onLanguageChange(() => {
        camera.renderDeviceLists();
        render();
        renderSites();
        mosaic?.render();
    });
    bindControls();
    // For people checking the sound from the browser's console, and for the tests.
    Object.assign(window, {diemcau: {floorStats: () => chair.floorStats()}});
    window.addEventListener('pagehide', () => {
        void sender?.stop();
        stopMeeting();
    });

    if (!sessionId || !token) {
        phase = 'invalid';
        render();
        return;
    }
    const sessionApi = new SessionApi(sessionId, token);
    api = sessionApi;
    // Until the server answers, say so and ask again every few seconds.
    while (!await loadMe(sessionApi)) {
        if (phase !== 'unreachable')
            return;
        await new Promise(resolve => setTimeout(resolve, 5000));
    }
    render();
    if (phase === 'ready')
        startMeeting();
    void pollSites(sessionApi);
    setInterval(async () => {
        await outbound.sample(sender ? sender.session : null);
        render();
    }, 1000);
    setInterval(() => void chair.sample(), 1000);
    setInterval(() => camera.updateLevel(), 100);
    if (phase === 'ready') {
        await camera.start();
        // A reload while on air: go on air again.
        if (readOnAir() && me && me.session.state === 'live' && camera.stream)
            goLive();
    }
}

/**
 * Asks what the link is for. False when the page can do nothing with it (yet: the phase
 * says 'unreachable' when the server did not answer).
 * @param {SessionApi} api
 * @returns {Promise<boolean>}
 */
async function loadMe(api) {
    try {
        const answer = await api.me();
        if (answer.role !== 'host' || !answer.whip_url) {
            phase = 'invalid';
            render();
            return false;
        }
        me = answer;
        phase = answer.session.state === 'ended' ? 'ended' : 'ready';
        return true;
    } catch (e) {
        if (!(e instanceof HttpError))
            throw e;
        if (e.invalidLink) {
            forgetToken(tokenKey);
            phase = 'invalid';
        } else if (e.status === 404) {
            phase = 'not_found';
        } else if (e.error === 'session_ended') {
            phase = 'ended';
            return true;
        } else {
            phase = 'unreachable';
        }
        render();
        return false;
    }
}

// ---- publishing ----

/**
 * While on air, sends the camera's new tracks in place of the old ones, without renegotiating.
 * @param {MediaStream} stream
 */
async function replaceSentTracks(stream) {
    const media = sender ? sender.session : null;
    if (!media)
        return;
    for (const {sender: out, receiver} of media.pc.getTransceivers()) {
        const track = stream.getTracks().find(x => x.kind === receiver.track.kind);
        if (track && track !== out.track)
            await out.replaceTrack(track).catch(() => {});
    }
    media.stream = stream;
}

/** @returns {Publishing} */
function publishing() {
    if (stopping)
        return 'stopping';
    switch (sender ? sender.state : 'ended') {
    case 'connected':
    case 'unstable': // within the grace, or an ICE restart: still on air
        return 'live';
    case 'waiting':
        return 'retrying';
    case 'ended':
    case 'idle':
        return 'idle';
    default:
        return 'connecting';
    }
}

/** Goes on air, and stays there (the camera as it is at each connection) until the end. */
function goLive() {
    const whipUrl = me ? me.whip_url : null;
    if (phase !== 'ready' || !camera.stream || !whipUrl || !token || publishing() !== 'idle')
        return;
    writeOnAir(true);
    alertMessage = null;
    const kept = new ReconnectingSession(() => {
        const stream = camera.stream;
        if (!stream)
            return Promise.reject(new Error('no camera'));
        return publish(whipUrl, token, stream, {videoCodec: camera.videoCodec, iceServers: me?.ice_servers});
    }, {final: e => !e.retryable});
    kept.addEventListener('session', () => {
        outbound.reset();
        if (api)
            void refreshMe(api);
    });
    kept.addEventListener('statechange', () => {
        if (kept !== sender)
            return;
        if (kept.failure)
            refused(kept.failure);
        render();
    });
    sender = kept;
    kept.start();
    render();
}

/**
 * The server refused to take the program, for a reason no retry changes.
 * @param {HttpError} e
 */
function refused(e) {
    stopLive();
    switch (e.failure) {
    case 'invalid_link':
        forgetToken(tokenKey);
        phase = 'invalid';
        break;
    case 'ended':
        toEnded();
        break;
    case 'not_found':
        phase = 'not_found';
        break;
    case 'codec':
        alertMessage = {key: 'error.codec'};
        break;
    case 'conflict':
        alertMessage = {key: 'error.conflict', vars: {message: problemText(e)}};
        break;
    default:
        alertMessage = {key: 'error.publish', vars: {message: problemText(e)}};
    }
}

/** Off the air for good: the session ended, or the server refused (nothing to delete). */
function stopLive() {
    writeOnAir(false);
    const old = sender;
    sender = null;
    void old?.stop({tellServer: false});
}

async function endSession() {
    if (!api || phase !== 'ready')
        return;
    writeOnAir(false);
    alertMessage = null;
    stopping = true;
    render();
    const old = sender;
    sender = null;
    try {
        await old?.stop();
        const session = await api.end();
        if (me)
            me.session = session;
    } catch (e) {
        if (!(e instanceof HttpError) || e.error !== 'session_ended') {
            alertMessage = {key: 'error.end_failed', vars: {message: problemText(e)}};
            return;
        }
    } finally {
        stopping = false;
        render();
    }
    toEnded();
    render();
}

function toEnded() {
    stopLive();
    camera.stop();
    stopMeeting();
    phase = 'ended';
    if (api)
        void refreshMe(api);
}

/**
 * Refreshes the session's times (started_at, ended_at) after it changed.
 * @param {SessionApi} api
 */
async function refreshMe(api) {
    try {
        const answer = await api.me();
        me = answer;
        if (answer.session.state === 'ended' && phase === 'ready')
            toEnded();
    } catch {
        // The sites poll will tell.
    }
    render();
}

// ---- sites ----

/**
 * Asks for the sites every SITES_INTERVAL, for as long as the page is open.
 * @param {SessionApi} api
 */
async function pollSites(api) {
    try {
        const report = await api.sites();
        sitesReport = report;
        takeListedHeadcounts(report);
        sitesFreshness.at = Date.now();
        sitesFreshness.failing = false;
        if (me && report.state !== me.session.state) {
            me.session.state = report.state;
            if (report.state === 'ended' && phase === 'ready')
                toEnded();
            else
                void refreshMe(api);
        }
    } catch (e) {
        sitesFreshness.failing = true;
        if (e instanceof HttpError && e.invalidLink) {
            stopLive();
            camera.stop();
            stopMeeting();
            phase = 'invalid';
            render();
            return;
        }
    }
    render();
    renderSites();
    setTimeout(() => void pollSites(api), SITES_INTERVAL);
}

function renderSites() {
    const report = sitesReport;
    const body = $('sites');
    const sites = report ? report.sites : [];
    const infos = tileInfos();
    mosaic?.update(infos);
    chair.render();
    const seen = new Set();
    for (const site of sites) {
        seen.add(site.site);
        let row = siteRows.get(site.site);
        if (!row) {
            row = siteRow();
            siteRows.set(site.site, row);
        }
        fillSiteRow(row, site);
        body.append(row); // keeps the server's order
    }
    for (const [id, row] of siteRows) {
        if (!seen.has(id)) {
            row.remove();
            siteRows.delete(id);
        }
    }
    const totals = sitesTotals(report);
    // Connected as the tiles say: the hall's page is open, or its player is.
    const connected = channel ? infos.filter(info => info.state === 'connected').length : totals.connected;
    setText($('sites-count'), report
        ? t('sites.count', {connected, total: totals.invited})
        : t('sites.loading'));
    $('sites-count').dataset.all = String(totals.invited > 0 && connected === totals.invited);
    const people = $('people-count');
    const reported = sites.some(site => typeof site.headcount === 'number');
    setText(people, !report ? '' : reported
        ? t('sites.people', {
            headcount: formatNumber(totals.headcount),
            expected: formatNumber(totals.expected),
            rate: formatPercent(totals.participation_rate),
        })
        : t('sites.people_none', {expected: formatNumber(totals.expected)}));
    people.dataset.reported = String(reported);
    const checked = report ? checkedInText(totals) : '';
    setText($('people-checked'), checked);
    $('people-checked').hidden = !checked;
    $('sites-empty').hidden = !report || sites.length > 0;
    const updated = $('sites-updated');
    if (sitesFreshness.failing)
        setText(updated, sitesFreshness.at
            ? t('sites.stale', {time: formatTime(sitesFreshness.at)})
            : t('sites.unreachable'));
    else
        setText(updated, sitesFreshness.at
            ? t('sites.updated', {time: formatTime(sitesFreshness.at)})
            : '');
    updated.dataset.tone = sitesFreshness.failing ? 'warn' : '';
    body.closest('.table-wrap')?.setAttribute('data-stale', String(sitesFreshness.failing));
}

// ---- the meeting: control channel, mosaic, floor ----

/** Opens the control channel, the mosaic's players and the floor player. */
function startMeeting() {
    if (!token || channel)
        return;
    const session = encodeURIComponent(sessionId);
    channel = new ControlChannel(controlUrl(sessionId, location.href), token);
    channel.addEventListener('statechange', channelChanged);
    channel.addEventListener('message', event => {
        heard(/** @type {CustomEvent<ServerMessage>} */ (event).detail);
    });
    channel.start();
    mosaic = new Mosaic($('mosaic'), {
        url: site => `/whep/${session}/host/uplink/${encodeURIComponent(site)}`,
        token,
        onOpen: site => chair.openSpotlight(site),
        iceServers: () => me?.ice_servers || [],
    });
    chair.start({
        channel,
        mosaic,
        floorUrl: `/whep/${session}/host/floor`,
        token,
        iceServers: () => me?.ice_servers || [],
    });
    renderSites();
}

/** Closes them all: the session ended, the link is invalid, or the page goes away. */
function stopMeeting() {
    channel?.stop();
    mosaic?.stop();
    chair.stop();
}

function channelChanged() {
    const end = channel ? channel.end : null;
    if (end === 'ended' && phase === 'ready') {
        toEnded();
    } else if ((end === 'unauthorized' || end === 'forbidden' || end === 'replaced') && phase === 'ready') {
        stopLive();
        camera.stop();
        stopMeeting();
        forgetToken(tokenKey);
        phase = end === 'replaced' ? 'replaced' : 'invalid';
    }
    render();
    renderSites();
}

/**
 * One message of the control channel (the room copy is already updated).
 * @param {ServerMessage} message
 */
function heard(message) {
    switch (message.type) {
    case 'welcome':
        for (const participant of channel ? channel.room.present : [])
            everConnected.add(participant);
        if (me && message.session && message.session.state !== me.session.state)
            sessionChanged(message.session.state);
        break;
    case 'presence':
        if (message.present)
            everConnected.add(message.participant);
        break;
    case 'headcount':
        headcounts.shown.set(message.site, message.present);
        break;
    case 'session':
        sessionChanged(message.state);
        break;
    case 'error':
        chair.refused(message);
        break;
    }
    renderSites();
}

/**
 * The session went live or ended, as the channel says (the sites poll would say it later).
 * @param {string} state
 */
function sessionChanged(state) {
    if (!me || phase !== 'ready')
        return;
    if (state === 'ended') {
        toEnded();
    } else if (state === 'live' && me.session.state !== 'live') {
        me.session.state = 'live';
        if (api)
            void refreshMe(api);
    }
    render();
}

/**
 * What each tile shows, from the sites list and the room.
 * @returns {import('./mosaic.js').TileInfo[]}
 */
function tileInfos() {
    const sites = sitesReport ? sitesReport.sites : [];
    const room = channel ? channel.room : null;
    return sites.map(site => {
        const removed = room ? room.removed.has(site.site) : false;
        const connected = !removed && ((room ? room.present.has(site.site) : false) || site.connected);
        if (connected)
            everConnected.add(site.site);
        /** @type {import('./mosaic.js').TileState} */
        const state = removed ? 'removed'
            : connected ? 'connected'
            : everConnected.has(site.site) || site.connections > 0 ? 'reconnecting'
            : 'absent';
        const counted = headcounts.shown.get(site.site);
        return {
            site: site.site,
            name: site.name,
            kindText: hasText(`kind.${site.kind}`) ? t(`kind.${site.kind}`) : site.kind || '',
            expected: site.expected || 0,
            state,
            headcount: typeof counted === 'number' ? counted : null,
            checkedIn: typeof site.people_expected === 'number' ? {
                present: site.people_present || 0,
                expected: site.people_expected,
                excused: site.people_excused || 0,
            } : null,
            floor: room ? room.floor === site.site : false,
            request: room ? room.requestPosition(site.site) : 0,
            muted: room ? room.muted.has(site.site) : false,
        };
    });
}

/**
 * Takes the headcounts of the sites list where they changed since it was last seen.
 * @param {import('./api.js').SitesReport} report
 */
function takeListedHeadcounts(report) {
    for (const site of report.sites) {
        const at = site.headcount_at ?? null;
        if (headcounts.listedAt.has(site.site) && headcounts.listedAt.get(site.site) === at)
            continue;
        headcounts.listedAt.set(site.site, at);
        headcounts.shown.set(site.site, typeof site.headcount === 'number' ? site.headcount : null);
    }
}

/**
 * @param {string} site
 * @returns {string} the hall's name, or its id while the sites list has not come
 */
function siteName(site) {
    const listed = sitesReport ? sitesReport.sites.find(s => s.site === site) : null;
    return listed ? listed.name : site;
}

// ---- controls ----

function bindControls() {
    $('go-live').addEventListener('click', () => {
        camera.resumeAudio();
        goLive();
    });
    $('end').addEventListener('click', () => {
        if (typeof confirmDialog.showModal === 'function')
            confirmDialog.showModal();
        else if (window.confirm(t('confirm.text')))
            void endSession();
    });
    $('confirm-cancel').addEventListener('click', () => confirmDialog.close());
    $('confirm-ok').addEventListener('click', () => {
        confirmDialog.close();
        void endSession();
    });
    // The report opens with the host token, put in the link only as it is followed, so that
    // it never shows in the status bar on the projected screen.
    const attendanceLink = /** @type {HTMLAnchorElement} */ ($('attendance-link'));
    attendanceLink.href = `/attendance/${encodeURIComponent(sessionId)}`;
    const openReport = (/** @type {MouseEvent} */ event) => {
        if (!token || (event.type === 'auxclick' && event.button !== 1))
            return;
        event.preventDefault();
        const url = `${attendanceLink.pathname}#token=${encodeURIComponent(token)}`;
        window.open(url, '_blank', 'noopener');
    };
    attendanceLink.addEventListener('click', openReport);
    attendanceLink.addEventListener('auxclick', openReport);
}

/** @returns {boolean} */
function readOnAir() {
    try {
        return sessionStorage.getItem(onAirKey) === '1';
    } catch {
        return false;
    }
}

/** @param {boolean} on */
function writeOnAir(on) {
    try {
        if (on)
            sessionStorage.setItem(onAirKey, '1');
        else
            sessionStorage.removeItem(onAirKey);
    } catch {
        // Storage disabled: a reload won't resume.
    }
}

// ---- drawing ----

function render() {
    const session = me ? me.session : null;
    document.title = session
        ? `${session.title} · ${t('console.doc_title')}`
        : t('console.doc_title');
    setText($('title'), session ? session.title : '');
    setText($('schedule'), scheduleText(session));

    const state = $('state');
    const shownState = phase === 'ready' || phase === 'ended'
        ? (session ? session.state : 'loading')
        : phase;
    state.dataset.state = shownState;
    setText(state, stateText(shownState));

    const blocked = phase === 'invalid' || phase === 'replaced' || phase === 'not_found'
        || phase === 'unreachable' || phase === 'loading';
    // The report exists once the session has started.
    $('attendance-link').hidden = blocked || !session || session.state === 'scheduled';
    $('console').hidden = blocked;
    $('blocker').hidden = !blocked;
    if (blocked) {
        const [title, detail] = blockerText();
        setText($('blocker-title'), title);
        setText($('blocker-detail'), detail);
    }

    const alert = $('alert');
    const alertText = alertMessage ? t(alertMessage.key, alertMessage.vars)
        : phase === 'ended' ? endedText(session) : '';
    setText(alert, alertText);
    alert.hidden = !alertText;
    alert.dataset.tone = alertMessage ? 'error' : 'info';

    const ended = phase !== 'ready';
    const sending = publishing();
    const onAir = sending !== 'idle';
    const goLiveButton = /** @type {HTMLButtonElement} */ ($('go-live'));
    goLiveButton.disabled = ended || onAir || !camera.stream || camera.starting;
    goLiveButton.dataset.onAir = String(onAir);
    const goLiveLabel = /** @type {HTMLElement} */ (goLiveButton.lastElementChild);
    goLiveLabel.dataset.i18n = onAir ? 'console.on_air' : 'console.go_live';
    setText(goLiveLabel, onAir ? t('console.on_air') : t('console.go_live'));
    /** @type {HTMLButtonElement} */ ($('end')).disabled = ended || sending === 'stopping';
    camera.render({ended, onAir});

    const badge = $('preview-badge');
    badge.dataset.onAir = String(sending === 'live');
    setText(badge, sending === 'live' ? t('console.badge_live')
        : ended ? t('console.badge_off') : t('console.badge_preview'));
    badge.hidden = !camera.stream && !ended;

    renderOutbound(sending);
}

/** @param {Publishing} publishing */
function renderOutbound(publishing) {
    const connection = $('out-connection');
    /** @type {string} */
    let text;
    switch (publishing) {
    case 'idle':
        text = t('outbound.idle');
        break;
    case 'connecting':
        text = t('outbound.connecting');
        break;
    case 'live':
        text = t('outbound.live');
        break;
    case 'retrying':
        text = t('outbound.retrying', {
            seconds: Math.max(1, Math.ceil(((sender ? sender.retryAt : 0) - Date.now()) / 1000)),
        });
        break;
    case 'stopping':
        text = t('outbound.stopping');
        break;
    }
    setText(connection, text);
    connection.dataset.tone = publishing === 'live' ? 'ok' : publishing === 'retrying' ? 'warn' : '';

    outbound.render(publishing === 'live');
}

/**
 * @param {import('./api.js').Session|null} session
 * @returns {string}
 */
function scheduleText(session) {
    if (!session)
        return '';
    if (session.state === 'live' && session.started_at) {
        return t('console.started', {
            time: formatTime(session.started_at),
            duration: formatDuration(Date.now() - Date.parse(session.started_at)),
        });
    }
    if (session.state === 'ended')
        return session.ended_at ? t('console.ended_at', {time: formatDateTime(session.ended_at)}) : '';
    return session.scheduled_start
        ? t('console.scheduled', {time: formatDateTime(session.scheduled_start)})
        : '';
}

/**
 * @param {string} state
 * @returns {string}
 */
function stateText(state) {
    switch (state) {
    case 'scheduled':
        return t('state.scheduled');
    case 'live':
        return t('state.live');
    case 'ended':
        return t('state.ended');
    case 'invalid':
    case 'replaced':
    case 'not_found':
        return t('state.unavailable');
    case 'unreachable':
        return t('state.offline');
    default:
        return t('state.loading');
    }
}

/** @returns {[string, string]} */
function blockerText() {
    switch (phase) {
    case 'invalid':
        return [t('console.invalid'), t('console.invalid_detail')];
    case 'replaced':
        return [t('console.replaced'), t('console.replaced_detail')];
    case 'not_found':
        return [t('console.not_found'), t('console.not_found_detail')];
    case 'unreachable':
        return [t('console.unreachable'), t('console.unreachable_detail')];
    default:
        return [t('state.loading'), ''];
    }
}

/**
 * @param {import('./api.js').Session|null} session
 * @returns {string}
 */
function endedText(session) {
    return session && session.ended_at
        ? t('console.ended_banner_at', {time: formatTime(session.ended_at)})
        : t('console.ended_banner');
}

/**
 * The server's own words for a failure, or its code, or the status.
 * @param {unknown} e
 * @returns {string}
 */
function problemText(e) {
    if (e instanceof HttpError)
        return e.message || e.error || `HTTP ${e.status}`;
    return e instanceof Error ? e.message : String(e);
}

main().catch(() => {
    applyI18n(document);
    phase = 'unreachable';
    render();
});
