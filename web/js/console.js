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
import {
    applyI18n, bindLanguageButtons, formatBytes, formatDateTime, formatDuration, formatNumber,
    formatPercent, formatTime, hasText, initI18n, onLanguageChange, t,
} from './i18n.js';
import {ControlChannel, controlUrl} from './control.js';
import {arrange, Mosaic, qualityText, stateText as tileStateText} from './mosaic.js';
import {forgetToken, takeToken} from './token.js';
import {backoff} from './backoff.js';
import {HttpError} from './httperror.js';
import {PictureSampler} from './picture.js';
import {ReconnectingSession} from './reconnecting.js';
import {play, publish, receivedBy} from './whip.js';

/** @typedef {import('./control.js').ServerMessage} ServerMessage */

/** How often the sites list is asked for, in ms. */
const SITES_INTERVAL = 2000;
/** How long a refusal of the chair's action stays on screen, in ms. */
const CHAIR_PROBLEM_SHOWN = 8000;
/** How long 'disconnected' may last before publishing is started afresh, in ms. */
const DISCONNECTED_GRACE = 4000;

/** Capture sizes offered, by the height the operator picks. */
const RESOLUTIONS = /** @type {Record<string, {width: number, height: number}>} */ ({
    1080: {width: 1920, height: 1080},
    720: {width: 1280, height: 720},
    360: {width: 640, height: 360},
});

/**
 * What the page as a whole shows; all but 'ready' and 'ended' show a message in place of
 * the console.
 * @typedef {'loading'|'ready'|'ended'|'invalid'|'not_found'|'unreachable'} Phase
 */

/**
 * Where publishing stands: 'idle' (not on air), 'connecting', 'live', 'retrying' (waiting
 * to connect again), 'stopping'.
 * @typedef {'idle'|'connecting'|'live'|'retrying'|'stopping'} Publishing
 */

/**
 * Why there is no camera picture: the keys of the 'camera.*' messages.
 * @typedef {'denied'|'not_found'|'busy'|'insecure'|'failed'} CameraProblem
 */

const sessionId = pathPart(2);
const tokenKey = `diemcau.token.console.${sessionId}`;
const onAirKey = `diemcau.console.on-air.${sessionId}`;
const choicesKey = 'diemcau.console.choices';
const token = takeToken(tokenKey);

const preview = /** @type {HTMLVideoElement} */ ($('preview'));
const cameraSelect = /** @type {HTMLSelectElement} */ ($('camera'));
const microphoneSelect = /** @type {HTMLSelectElement} */ ($('microphone'));
const resolutionSelect = /** @type {HTMLSelectElement} */ ($('resolution'));
const codecSelect = /** @type {HTMLSelectElement} */ ($('codec'));
const levelMeter = /** @type {HTMLMeterElement} */ ($('level'));
const confirmDialog = /** @type {HTMLDialogElement} */ ($('confirm-end'));
const floorVideo = /** @type {HTMLVideoElement} */ ($('floor-video'));
const spotlight = /** @type {HTMLDialogElement} */ ($('spotlight'));
const spotlightVideo = /** @type {HTMLVideoElement} */ ($('spotlight-video'));
const removeDialog = /** @type {HTMLDialogElement} */ ($('confirm-remove'));

/** @type {SessionApi|null} */
let api = null;
/** @type {import('./api.js').Me|null} */
let me = null;
/** @type {Phase} */
let phase = 'loading';

/** @type {MediaStream|null} the camera and microphone, as previewed and sent */
let localStream = null;
/** @type {MediaDeviceInfo[]} */
let devices = [];
/** @type {CameraProblem|null} */
let cameraProblem = null;
let cameraStarting = false;

/** @type {Publishing} */
let publishing = 'idle';
/** True from "go live" until "end": connections that break are made again. */
let wantLive = false;
/** @type {import('./whip.js').MediaSession|null} */
let media = null;
let attempt = 0;
/** @type {ReturnType<typeof setTimeout>|null} */
let retryTimer = null;
let retryAt = 0;
/** @type {ReturnType<typeof setTimeout>|null} */
let disconnectTimer = null;

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
/** @type {ReconnectingSession|null} the floor as the district hall receives it */
let floorPlayer = null;
/** Whether the floor's picture arrives. */
const floorPicture = new PictureSampler();
/** True when the browser would not play the floor's sound before a click. */
let floorSoundBlocked = false;
/** @type {string|null} the hall shown enlarged */
let spotlightSite = null;
/** @type {string|null} the hall the chair is asked to confirm removing */
let removing = null;
/**
 * The chair's last refused action, in words, and until when it shows (ms).
 * @type {{key: string, vars?: Record<string, string|number>, until: number}|null}
 */
let chairProblem = null;
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

/** Outbound measures from getStats(), the previous sample kept to make rates. */
const outbound = {
    /** @type {Record<string, {bytes: number, at: number}>} */
    previous: {},
    videoKbps: 0, audioKbps: 0, width: 0, height: 0, fps: 0,
    videoCodec: '', audioCodec: '', rttMs: /** @type {number|null} */ (null),
    /** Why the browser sends less than asked ('cpu', 'bandwidth'), and for how many samples. */
    limitation: '', limitedFor: 0,
};

/** A limitation counts once it lasts this many samples (the first seconds always ramp up). */
const LIMITATION_SAMPLES = 10;

/** @type {AudioContext|null} */
let audioContext = null;
/** @type {AnalyserNode|null} */
let analyser = null;
/** @type {MediaStreamAudioSourceNode|null} */
let analyserSource = null;

async function main() {
    await initI18n();
    bindLanguageButtons(document);
    onLanguageChange(() => {
        renderDeviceLists();
        render();
        renderSites();
        mosaic?.render();
    });
    restoreChoices();
    bindControls();
    bindChair();
    window.addEventListener('pagehide', () => {
        void media?.stop();
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
    setInterval(() => void sampleOutbound(), 1000);
    setInterval(() => void sampleFloor(), 1000);
    setInterval(updateLevel, 100);
    if (phase === 'ready') {
        await startCamera();
        // A reload while on air: go on air again.
        if (readOnAir() && me && me.session.state === 'live' && localStream)
            void goLive();
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

// ---- camera and microphone ----

/**
 * Opens the chosen camera and microphone (or replaces one of them while on air).
 * @param {'video'|'audio'} [only] change only this kind, keep the other track
 */
async function startCamera(only) {
    if (phase !== 'ready' || cameraStarting)
        return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        cameraProblem = window.isSecureContext ? 'failed' : 'insecure';
        render();
        return;
    }
    cameraStarting = true;
    render();
    const size = RESOLUTIONS[resolutionSelect.value] || RESOLUTIONS[720];
    const wantVideo = only !== 'audio';
    const wantAudio = only !== 'video';
    // Some cameras can't be opened twice: let go of the old track first.
    const kept = localStream ? localStream.getTracks().filter(track => {
        const replace = track.kind === 'video' ? wantVideo : wantAudio;
        if (replace)
            track.stop();
        return !replace;
    }) : [];
    /** @param {boolean} chosen use the devices picked in the lists, else the defaults */
    const constraints = chosen => ({
        video: wantVideo && {
            deviceId: chosen && cameraSelect.value ? {exact: cameraSelect.value} : undefined,
            width: {ideal: size.width},
            height: {ideal: size.height},
            frameRate: {ideal: 30},
        },
        audio: wantAudio && {
            deviceId: chosen && microphoneSelect.value ? {exact: microphoneSelect.value} : undefined,
        },
    });
    try {
        let captured;
        try {
            captured = await navigator.mediaDevices.getUserMedia(constraints(true));
        } catch (e) {
            // A remembered device that is gone: take the default one.
            if (!(e instanceof DOMException) || e.name !== 'OverconstrainedError')
                throw e;
            captured = await navigator.mediaDevices.getUserMedia(constraints(false));
        }
        const stream = new MediaStream([...kept, ...captured.getTracks()]);
        localStream = stream;
        cameraProblem = null;
        preview.srcObject = stream;
        void preview.play().catch(() => {});
        await replaceSentTracks(stream);
        watchLevel(stream);
        await listDevices();
    } catch (e) {
        cameraProblem = cameraProblemOf(e);
        localStream = kept.length ? new MediaStream(kept) : null;
        preview.srcObject = localStream;
        await listDevices();
    } finally {
        cameraStarting = false;
        render();
    }
}

/**
 * @param {unknown} e what getUserMedia threw
 * @returns {CameraProblem}
 */
function cameraProblemOf(e) {
    const name = e instanceof DOMException ? e.name : '';
    if (name === 'NotAllowedError' || name === 'SecurityError')
        return 'denied';
    if (name === 'NotFoundError' || name === 'OverconstrainedError')
        return 'not_found';
    if (name === 'NotReadableError' || name === 'AbortError')
        return 'busy';
    return 'failed';
}

/**
 * While on air, sends the new tracks in place of the old ones, without renegotiating.
 * @param {MediaStream} stream
 */
async function replaceSentTracks(stream) {
    if (!media)
        return;
    for (const {sender, receiver} of media.pc.getTransceivers()) {
        const track = stream.getTracks().find(x => x.kind === receiver.track.kind);
        if (track && track !== sender.track)
            await sender.replaceTrack(track).catch(() => {});
    }
    media.stream = stream;
}

/** Fills the camera and microphone lists (labels are known after the first capture). */
async function listDevices() {
    try {
        devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
        devices = [];
    }
    renderDeviceLists();
}

function renderDeviceLists() {
    const current = (/** @type {'video'|'audio'} */ kind) => {
        const track = localStream && localStream.getTracks().find(x => x.kind === kind);
        return track ? track.getSettings().deviceId || '' : '';
    };
    fillDeviceSelect(cameraSelect, devices.filter(d => d.kind === 'videoinput'), current('video'),
        n => t('console.camera_n', {n}));
    fillDeviceSelect(microphoneSelect, devices.filter(d => d.kind === 'audioinput'), current('audio'),
        n => t('console.microphone_n', {n}));
}

/**
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} list
 * @param {string} selected deviceId in use
 * @param {(n: number) => string} unnamed label for a device the browser doesn't name
 */
function fillDeviceSelect(select, list, selected, unnamed) {
    select.replaceChildren(...list.map((device, i) => {
        const option = document.createElement('option');
        option.value = device.deviceId;
        option.textContent = device.label || unnamed(i + 1);
        option.selected = device.deviceId === selected;
        return option;
    }));
    if (list.length === 0) {
        const option = document.createElement('option');
        option.value = '';
        option.textContent = t('console.no_device');
        select.append(option);
    }
}

/**
 * Feeds the microphone to the level meter.
 * @param {MediaStream} stream
 */
function watchLevel(stream) {
    const track = stream.getAudioTracks()[0];
    if (analyserSource) {
        analyserSource.disconnect();
        analyserSource = null;
    }
    if (!track || typeof AudioContext === 'undefined')
        return;
    if (!audioContext) {
        audioContext = new AudioContext();
        analyser = audioContext.createAnalyser();
        analyser.fftSize = 1024;
    }
    analyserSource = audioContext.createMediaStreamSource(new MediaStream([track]));
    if (analyser)
        analyserSource.connect(analyser);
}

/** Ten times a second: the microphone's peak level, 0 to 1. */
function updateLevel() {
    if (!analyser || !audioContext || audioContext.state !== 'running' || !localStream) {
        levelMeter.value = 0;
        return;
    }
    const samples = new Float32Array(analyser.fftSize);
    analyser.getFloatTimeDomainData(samples);
    let peak = 0;
    for (const sample of samples)
        peak = Math.max(peak, Math.abs(sample));
    // Decay slowly so that speech reads as a steady bar.
    levelMeter.value = Math.max(peak, levelMeter.value * 0.8);
}

function stopCamera() {
    if (localStream)
        for (const track of localStream.getTracks())
            track.stop();
    localStream = null;
    preview.srcObject = null;
    if (analyserSource)
        analyserSource.disconnect();
    analyserSource = null;
}

// ---- publishing ----

async function goLive() {
    if (phase !== 'ready' || !localStream || !me || !me.whip_url || !token)
        return;
    if (publishing === 'connecting' || publishing === 'live')
        return;
    wantLive = true;
    writeOnAir(true);
    alertMessage = null;
    clearRetry();
    publishing = 'connecting';
    render();
    try {
        const session = await publish(me.whip_url, token, localStream, {
            videoCodec: codecSelect.value === 'H264' ? 'H264' : 'VP8',
            iceServers: me.ice_servers,
        });
        if (!wantLive) {
            void session.stop();
            return;
        }
        attach(session);
        if (api)
            void refreshMe(api);
    } catch (e) {
        if (!wantLive)
            return;
        if (!(e instanceof HttpError)) {
            retryLater();
            return;
        }
        switch (e.failure) {
        case 'invalid_link':
            stopLive();
            forgetToken(tokenKey);
            phase = 'invalid';
            break;
        case 'ended':
            stopLive();
            toEnded();
            break;
        case 'not_found':
            stopLive();
            phase = 'not_found';
            break;
        case 'codec':
            stopLive();
            alertMessage = {key: 'error.codec'};
            break;
        case 'conflict':
            stopLive();
            alertMessage = {key: 'error.conflict', vars: {message: problemText(e)}};
            break;
        case 'protocol':
            stopLive();
            alertMessage = {key: 'error.publish', vars: {message: problemText(e)}};
            break;
        default:
            retryLater();
        }
    } finally {
        render();
    }
}

/**
 * @param {import('./whip.js').MediaSession} session
 */
function attach(session) {
    media = session;
    publishing = session.state === 'connected' ? 'live' : 'connecting';
    outbound.previous = {};
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
            publishing = 'live';
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
        render();
    });
}

/**
 * The connection broke while on air: connect again shortly.
 * @param {import('./whip.js').MediaSession} session
 */
function lost(session) {
    if (session !== media)
        return;
    dropMedia();
    if (wantLive)
        retryLater();
    else
        publishing = 'idle';
    render();
}

function retryLater() {
    clearRetry();
    attempt += 1;
    const delay = backoff(attempt);
    publishing = 'retrying';
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(() => {
        retryTimer = null;
        publishing = 'idle';
        void goLive();
    }, delay);
}

function clearRetry() {
    if (retryTimer)
        clearTimeout(retryTimer);
    retryTimer = null;
}

/**
 * @param {boolean} [tellServer] false once the session ended or the link turned out invalid
 */
function dropMedia(tellServer = true) {
    if (disconnectTimer)
        clearTimeout(disconnectTimer);
    disconnectTimer = null;
    if (media) {
        const old = media;
        media = null;
        void old.stop({tellServer});
    }
}

/** Off the air for good: the session ended, or the server refused (nothing to delete). */
function stopLive() {
    wantLive = false;
    writeOnAir(false);
    clearRetry();
    dropMedia(false);
    publishing = 'idle';
}

async function endSession() {
    if (!api || phase !== 'ready')
        return;
    wantLive = false;
    writeOnAir(false);
    clearRetry();
    alertMessage = null;
    publishing = 'stopping';
    render();
    const old = media;
    media = null;
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
        publishing = 'idle';
        render();
    }
    toEnded();
    render();
}

function toEnded() {
    stopLive();
    stopCamera();
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
            stopCamera();
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
    renderMeeting();
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

/**
 * The sites added up: as the server adds them when it does, else counted here.
 * @param {import('./api.js').SitesReport|null} report
 * @returns {import('./api.js').SitesTotals}
 */
function sitesTotals(report) {
    if (report && report.totals)
        return report.totals;
    const sites = report ? report.sites : [];
    const expected = sites.reduce((sum, site) => sum + (site.expected || 0), 0);
    const headcount = sites.reduce((sum, site) => sum + (site.headcount || 0), 0);
    return {
        invited: sites.length,
        connected: sites.filter(site => site.connected).length,
        expected,
        headcount,
        participation_rate: expected ? headcount / expected : null,
    };
}

/**
 * An empty row: the site (name, and kind below it), the connection (word and dot, and since
 * when below it), then the people reported present, then the counts.
 * @returns {HTMLTableRowElement}
 */
function siteRow() {
    /**
     * @param {string} tag
     * @param {string} [className]
     */
    const element = (tag, className) => {
        const made = document.createElement(tag);
        if (className)
            made.className = className;
        return made;
    };
    const row = /** @type {HTMLTableRowElement} */ (element('tr'));
    const site = element('th');
    site.setAttribute('scope', 'row');
    site.append(element('span', 'site-name'), element('span', 'site-kind'));
    const connection = element('span', 'connection');
    const dot = element('span', 'dot');
    dot.setAttribute('aria-hidden', 'true');
    connection.append(dot, element('span'));
    const status = element('td');
    status.append(connection, element('span', 'since'));
    row.append(site, status, element('td', 'num'), element('td', 'num'), element('td', 'num'),
        element('td', 'num'));
    return row;
}

/**
 * @param {HTMLTableRowElement} row
 * @param {import('./api.js').SiteStatus} site
 */
function fillSiteRow(row, site) {
    const [name, kind] = /** @type {HTMLElement[]} */ ([...row.cells[0].children]);
    const [connection, sinceText] = /** @type {HTMLElement[]} */ ([...row.cells[1].children]);
    row.dataset.connected = String(site.connected);
    setText(name, site.name);
    setText(kind, hasText(`kind.${site.kind}`) ? t(`kind.${site.kind}`) : site.kind || '');
    connection.dataset.connected = String(site.connected);
    setText(/** @type {HTMLElement} */ (connection.lastElementChild),
        site.connected ? t('sites.connected') : t('sites.not_connected'));
    let since = '';
    if (site.connected && site.connected_since) {
        const started = Date.parse(site.connected_since);
        since = Number.isNaN(started) ? '' : t('sites.since_value', {
            time: formatTime(site.connected_since),
            duration: formatDuration(Date.now() - started),
        });
    }
    setText(sinceText, since);
    const people = row.cells[2];
    const reported = typeof site.headcount === 'number';
    setText(people, t('sites.headcount_value', {
        headcount: reported ? formatNumber(/** @type {number} */ (site.headcount)) : '—',
        expected: formatNumber(site.expected || 0),
    }));
    people.dataset.reported = String(reported);
    people.title = reported && site.headcount_at
        ? t('sites.headcount_at', {time: formatTime(site.headcount_at)}) : '';
    setText(row.cells[3], formatNumber(site.connections || 0));
    setText(row.cells[4], formatNumber(site.packets_sent || 0));
    setText(row.cells[5], formatBytes(site.bytes_sent || 0));
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
        onOpen: openSpotlight,
        iceServers: () => me?.ice_servers || [],
    });
    const player = new ReconnectingSession(() => play(`/whep/${session}/host/floor`, token, {
        iceServers: me?.ice_servers,
    }));
    player.addEventListener('session', () => attachFloor(player));
    player.addEventListener('statechange', renderMeeting);
    floorPlayer = player;
    player.start();
    renderSites();
}

/** Closes them all: the session ended, the link is invalid, or the page goes away. */
function stopMeeting() {
    channel?.stop();
    mosaic?.stop();
    floorPlayer?.stop();
    floorPlayer = null;
    floorVideo.srcObject = null;
    closeSpotlight();
}

function channelChanged() {
    const end = channel ? channel.end : null;
    if (end === 'ended' && phase === 'ready') {
        toEnded();
    } else if ((end === 'unauthorized' || end === 'forbidden') && phase === 'ready') {
        stopLive();
        stopCamera();
        stopMeeting();
        forgetToken(tokenKey);
        phase = 'invalid';
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
        chairProblem = {
            key: chairErrorKey(message.code),
            vars: {message: message.message || message.code || ''},
            until: Date.now() + CHAIR_PROBLEM_SHOWN,
        };
        setTimeout(renderMeeting, CHAIR_PROBLEM_SHOWN + 50);
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
 * @param {string} code
 * @returns {string}
 */
function chairErrorKey(code) {
    switch (code) {
    case 'not_present':
        return 'chair.error_not_present';
    case 'has_floor':
        return 'chair.error_has_floor';
    case 'no_floor':
        return 'chair.error_no_floor';
    case 'removed':
        return 'chair.error_removed';
    case 'rate_limited':
        return 'chair.error_rate';
    default:
        return 'chair.error';
    }
}

/**
 * Sends one of the chair's messages, or says why it can't.
 * @param {Record<string, unknown> & {type: string}} message
 */
function chair(message) {
    if (!channel || !channel.send(message)) {
        chairProblem = {key: 'chair.offline', until: Date.now() + CHAIR_PROBLEM_SHOWN};
        setTimeout(renderMeeting, CHAIR_PROBLEM_SHOWN + 50);
    } else {
        chairProblem = null;
    }
    renderMeeting();
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

/**
 * A new floor connection: play it, with sound.
 * @param {ReconnectingSession} player
 */
function attachFloor(player) {
    floorPicture.reset();
    floorVideo.srcObject = player.session ? player.session.stream : null;
    void playFloor();
}

/** Plays the floor with its sound, or muted until a click if the browser insists. */
async function playFloor() {
    floorVideo.muted = false;
    try {
        await floorVideo.play();
        floorSoundBlocked = false;
    } catch (e) {
        if (e instanceof DOMException && e.name === 'NotAllowedError') {
            floorSoundBlocked = true;
            floorVideo.muted = true;
            void floorVideo.play().catch(() => {});
        }
    }
    renderMeeting();
}

/** Every second: whether the floor brings a picture. */
async function sampleFloor() {
    const session = floorPlayer ? floorPlayer.session : null;
    if (!session || session.state !== 'connected')
        return;
    try {
        const counts = await receivedBy(session.pc.getReceivers());
        floorPicture.sample(counts.video.frames);
    } catch {
        // Closed meanwhile.
    }
    renderMeeting();
}

/**
 * The floor's inbound bytes and packets by kind, as the district hall receives them; null
 * while there is no floor connection. For people checking the sound, and for the tests.
 * @returns {Promise<{video: import('./whip.js').ReceivedCounts, audio: import('./whip.js').ReceivedCounts}|null>}
 */
async function floorStats() {
    const session = floorPlayer ? floorPlayer.session : null;
    return session ? receivedBy(session.pc.getReceivers()) : null;
}

/** The floor panel, the requests, the spotlight. */
function renderMeeting() {
    renderChannel();
    renderFloor();
    renderRequests();
    renderSpotlight();
}

function renderChannel() {
    const line = $('channel');
    const state = channel ? channel.state : 'closed';
    line.dataset.state = state;
    /** @type {string} */
    let text;
    switch (state) {
    case 'open':
        text = t('channel.open');
        break;
    case 'waiting':
        text = t('channel.waiting', {
            seconds: Math.max(1, Math.ceil(((channel ? channel.retryAt : 0) - Date.now()) / 1000)),
        });
        break;
    case 'connecting':
        text = t('channel.connecting');
        break;
    default:
        text = t('channel.closed');
    }
    setText(line, text);
}

function renderFloor() {
    const room = channel ? channel.room : null;
    const holder = room ? room.floor : null;
    const open = channel !== null && channel.isOpen;
    const picture = holder !== null && floorPicture.arriving();
    const now = $('floor-now');
    now.dataset.holder = String(holder !== null);
    now.dataset.picture = String(picture);
    setText($('floor-holder'), holder
        ? t('floor.holder', {site: siteName(holder)})
        : t('floor.nobody'));
    const empty = $('floor-empty');
    setText(empty, picture ? '' : holder ? t('floor.waiting_picture') : t('floor.nobody_detail'));
    empty.hidden = picture;
    $('floor-tag').hidden = holder === null;
    const takeBack = /** @type {HTMLButtonElement} */ ($('take-back'));
    takeBack.hidden = holder === null;
    takeBack.disabled = !open;
    const mute = /** @type {HTMLButtonElement} */ ($('floor-mute'));
    const muted = holder !== null && room !== null && room.muted.has(holder);
    mute.hidden = holder === null;
    mute.disabled = !open;
    mute.dataset.muted = String(muted);
    setText(mute, muted ? t('chair.unmute') : t('chair.mute'));
    $('floor-sound').hidden = !floorSoundBlocked;

    const problem = $('floor-error');
    const shown = chairProblem && chairProblem.until > Date.now() ? chairProblem : null;
    setText(problem, shown ? t(shown.key, shown.vars) : '');
    problem.hidden = !shown;
}

function renderRequests() {
    const room = channel ? channel.room : null;
    const requests = room ? room.requests : [];
    const open = channel !== null && channel.isOpen;
    const list = $('requests');
    /** @type {Map<string, HTMLElement>} */
    const rows = new Map();
    for (const row of /** @type {HTMLElement[]} */ ([...list.children]))
        rows.set(row.dataset.site || '', row);
    /** @type {HTMLElement[]} */
    const order = [];
    requests.forEach((site, index) => {
        const row = rows.get(site) || requestRow(site);
        rows.delete(site);
        order.push(row);
        const [place, name, grant] = /** @type {HTMLElement[]} */ ([...row.children]);
        setText(place, formatNumber(index + 1));
        setText(name, siteName(site));
        setText(grant, t('chair.grant'));
        /** @type {HTMLButtonElement} */ (grant).disabled = !open;
        grant.setAttribute('aria-label', t('chair.grant_site', {site: siteName(site)}));
    });
    for (const row of rows.values())
        row.remove();
    arrange(list, order); // in the order of the queue
    setText($('requests-count'), requests.length ? `(${formatNumber(requests.length)})` : '');
    $('requests-empty').hidden = requests.length > 0;
}

/**
 * A row of the queue: its place, the hall (opens its tile), and the grant button.
 * @param {string} site
 * @returns {HTMLElement}
 */
function requestRow(site) {
    const row = document.createElement('li');
    row.dataset.site = site;
    const place = document.createElement('span');
    place.className = 'request-place';
    const name = document.createElement('button');
    name.type = 'button';
    name.className = 'request-name';
    name.addEventListener('click', () => openSpotlight(site));
    const grant = document.createElement('button');
    grant.type = 'button';
    grant.className = 'button primary request-grant';
    grant.addEventListener('click', () => chair({type: 'grant', site}));
    row.append(place, name, grant);
    return row;
}

/**
 * Shows one hall enlarged, with the chair's buttons for it.
 * @param {string} site
 */
function openSpotlight(site) {
    spotlightSite = site;
    if (!spotlight.open)
        spotlight.show();
    renderSpotlight();
    $('spotlight-close').focus();
}

function closeSpotlight() {
    spotlightSite = null;
    spotlightVideo.srcObject = null;
    if (spotlight.open)
        spotlight.close();
}

function renderSpotlight() {
    const site = spotlightSite;
    const tile = site && mosaic ? mosaic.tile(site) : undefined;
    if (!site || !tile) {
        if (spotlight.open)
            closeSpotlight();
        return;
    }
    const info = tile.info;
    const open = channel !== null && channel.isOpen;
    setText($('spotlight-name'), info.kindText ? `${info.name} · ${info.kindText}` : info.name);
    const state = $('spotlight-state');
    state.dataset.state = info.state;
    setText(state, tileStateText(info.state));
    if (spotlightVideo.srcObject !== tile.stream) {
        spotlightVideo.srcObject = tile.stream;
        if (tile.stream)
            void spotlightVideo.play().catch(() => {});
    }
    const picture = tile.hasPicture && info.state !== 'removed';
    const empty = $('spotlight-empty');
    setText(empty, picture ? '' : info.state === 'connected' ? t('tile.no_picture')
        : tileStateText(info.state));
    empty.hidden = picture;
    const details = [
        t('tile.people_long', {
            headcount: typeof info.headcount === 'number' ? formatNumber(info.headcount) : '—',
            expected: formatNumber(info.expected),
        }),
        t('tile.quality_long', {quality: qualityText(tile.link)}),
    ];
    if (info.request)
        details.push(t('tile.request', {n: info.request}));
    setText($('spotlight-details'), details.join(' · '));
    const grant = /** @type {HTMLButtonElement} */ ($('spotlight-grant'));
    grant.dataset.action = info.floor ? 'take_back' : 'grant';
    setText(grant, info.floor ? t('floor.take_back') : t('chair.grant'));
    grant.disabled = !open || info.state === 'removed';
    const mute = /** @type {HTMLButtonElement} */ ($('spotlight-mute'));
    setText(mute, info.muted ? t('chair.unmute') : t('chair.mute'));
    mute.dataset.muted = String(info.muted);
    mute.disabled = !open || info.state === 'removed';
    /** @type {HTMLButtonElement} */ ($('spotlight-remove')).disabled = !open || info.state === 'removed';
}

/**
 * Asks the chair to confirm removing a hall.
 * @param {string} site
 */
function askRemove(site) {
    removing = site;
    setText($('remove-title'), t('remove.title', {site: siteName(site)}));
    if (typeof removeDialog.showModal === 'function')
        removeDialog.showModal();
    else if (window.confirm(`${t('remove.title', {site: siteName(site)})}\n${t('remove.text')}`))
        confirmRemove();
}

function confirmRemove() {
    const site = removing;
    removing = null;
    if (removeDialog.open)
        removeDialog.close();
    if (site) {
        chair({type: 'remove', site});
        if (spotlightSite === site)
            closeSpotlight();
    }
}

function bindChair() {
    $('take-back').addEventListener('click', () => chair({type: 'take_back'}));
    $('floor-mute').addEventListener('click', () => {
        const holder = channel ? channel.room.floor : null;
        if (holder)
            chair({type: 'mute', site: holder, muted: $('floor-mute').dataset.muted !== 'true'});
    });
    $('floor-sound').addEventListener('click', () => void playFloor());
    $('spotlight-close').addEventListener('click', closeSpotlight);
    $('spotlight-grant').addEventListener('click', () => {
        if (!spotlightSite)
            return;
        if ($('spotlight-grant').dataset.action === 'take_back')
            chair({type: 'take_back'});
        else
            chair({type: 'grant', site: spotlightSite});
    });
    $('spotlight-mute').addEventListener('click', () => {
        if (spotlightSite)
            chair({type: 'mute', site: spotlightSite, muted: $('spotlight-mute').dataset.muted !== 'true'});
    });
    $('spotlight-remove').addEventListener('click', () => {
        if (spotlightSite)
            askRemove(spotlightSite);
    });
    $('remove-cancel').addEventListener('click', () => {
        removing = null;
        removeDialog.close();
    });
    $('remove-ok').addEventListener('click', confirmRemove);
    document.addEventListener('keydown', event => {
        if (event.key === 'Escape' && spotlight.open && !removeDialog.open && !confirmDialog.open)
            closeSpotlight();
    });
    // A click anywhere lets the browser play the floor's sound.
    document.addEventListener('pointerdown', () => {
        if (floorSoundBlocked)
            void playFloor();
    }, {passive: true});
    setInterval(renderChannel, 1000);
    // For people checking the sound from the browser's console, and for the tests.
    Object.assign(window, {diemcau: {floorStats}});
}

// ---- outbound measures ----

async function sampleOutbound() {
    const session = media;
    if (!session || session.state !== 'connected') {
        outbound.previous = {};
        outbound.videoKbps = outbound.audioKbps = outbound.fps = 0;
        render();
        return;
    }
    /** @type {RTCStatsReport} */
    let stats;
    try {
        stats = await session.pc.getStats();
    } catch {
        return;
    }
    /** @type {Record<string, {bytes: number, at: number}>} */
    const previous = outbound.previous;
    /** @type {Record<string, {bytes: number, at: number}>} */
    const next = {};
    let videoKbps = 0;
    let audioKbps = 0;
    outbound.rttMs = null;
    stats.forEach(report => {
        if (report.type === 'outbound-rtp') {
            const before = previous[report.id];
            next[report.id] = {bytes: report.bytesSent || 0, at: report.timestamp};
            const kbps = before && report.timestamp > before.at
                ? (8 * ((report.bytesSent || 0) - before.bytes)) / (report.timestamp - before.at)
                : 0;
            const codec = report.codecId ? stats.get(report.codecId) : null;
            const codecName = codec ? String(codec.mimeType).split('/')[1] || '' : '';
            if (report.kind === 'video') {
                videoKbps += kbps;
                outbound.width = report.frameWidth || 0;
                outbound.height = report.frameHeight || 0;
                outbound.fps = report.framesPerSecond || 0;
                outbound.videoCodec = codecName;
                const reason = report.qualityLimitationReason || 'none';
                outbound.limitedFor = reason === outbound.limitation ? outbound.limitedFor + 1 : 1;
                outbound.limitation = reason;
            } else if (report.kind === 'audio') {
                audioKbps += kbps;
                outbound.audioCodec = codecName;
            }
        } else if (report.type === 'candidate-pair' && report.nominated && report.state === 'succeeded') {
            if (typeof report.currentRoundTripTime === 'number')
                outbound.rttMs = Math.round(report.currentRoundTripTime * 1000);
        }
    });
    outbound.previous = next;
    outbound.videoKbps = videoKbps;
    outbound.audioKbps = audioKbps;
    render();
}

// ---- controls ----

function bindControls() {
    $('go-live').addEventListener('click', () => {
        void audioContext?.resume();
        void goLive();
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
    $('camera-retry').addEventListener('click', () => void startCamera());
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
    cameraSelect.addEventListener('change', () => {
        saveChoices();
        void startCamera('video');
    });
    resolutionSelect.addEventListener('change', () => {
        saveChoices();
        void startCamera('video');
    });
    microphoneSelect.addEventListener('change', () => {
        saveChoices();
        void startCamera('audio');
    });
    codecSelect.addEventListener('change', saveChoices);
    // The level meter needs a running AudioContext, which needs a first gesture.
    document.addEventListener('pointerdown', () => void audioContext?.resume(), {passive: true});
    if (navigator.mediaDevices && 'ondevicechange' in navigator.mediaDevices)
        navigator.mediaDevices.addEventListener('devicechange', () => void listDevices());
}

/** The devices and settings picked last time on this computer. */
function restoreChoices() {
    try {
        const choices = JSON.parse(localStorage.getItem(choicesKey) || '{}');
        if (choices.resolution in RESOLUTIONS)
            resolutionSelect.value = choices.resolution;
        if (choices.codec === 'VP8' || choices.codec === 'H264')
            codecSelect.value = choices.codec;
        // Device ids are only usable once the lists are filled; keep them as the first pick.
        for (const [select, id] of [[cameraSelect, choices.camera], [microphoneSelect, choices.microphone]]) {
            if (typeof id === 'string' && id) {
                const option = document.createElement('option');
                option.value = id;
                option.selected = true;
                /** @type {HTMLSelectElement} */ (select).append(option);
            }
        }
    } catch {
        // Nothing stored, or storage disabled.
    }
}

function saveChoices() {
    try {
        localStorage.setItem(choicesKey, JSON.stringify({
            camera: cameraSelect.value,
            microphone: microphoneSelect.value,
            resolution: resolutionSelect.value,
            codec: codecSelect.value,
        }));
    } catch {
        // Storage disabled.
    }
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

    const blocked = phase === 'invalid' || phase === 'not_found' || phase === 'unreachable'
        || phase === 'loading';
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
    const onAir = publishing !== 'idle';
    const goLiveButton = /** @type {HTMLButtonElement} */ ($('go-live'));
    goLiveButton.disabled = ended || onAir || !localStream || cameraStarting;
    goLiveButton.dataset.onAir = String(onAir);
    const goLiveLabel = /** @type {HTMLElement} */ (goLiveButton.lastElementChild);
    goLiveLabel.dataset.i18n = onAir ? 'console.on_air' : 'console.go_live';
    setText(goLiveLabel, onAir ? t('console.on_air') : t('console.go_live'));
    /** @type {HTMLButtonElement} */ ($('end')).disabled = ended || publishing === 'stopping';
    codecSelect.disabled = ended || onAir;
    for (const select of [cameraSelect, microphoneSelect, resolutionSelect])
        select.disabled = ended || cameraStarting;

    // While the browser asks for permission, say what it waits for.
    const askingCamera = cameraStarting && !localStream;
    $('camera-problem').hidden = ended || (!cameraProblem && !askingCamera);
    setText($('camera-problem-text'), cameraProblem ? cameraText(cameraProblem)
        : askingCamera ? t('camera.starting') : '');
    $('camera-retry').hidden = !cameraProblem || cameraProblem === 'insecure';

    const badge = $('preview-badge');
    badge.dataset.onAir = String(publishing === 'live');
    setText(badge, publishing === 'live' ? t('console.badge_live')
        : ended ? t('console.badge_off') : t('console.badge_preview'));
    badge.hidden = !localStream && !ended;

    renderOutbound();
}

function renderOutbound() {
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
        text = t('outbound.retrying', {seconds: Math.max(1, Math.ceil((retryAt - Date.now()) / 1000))});
        break;
    case 'stopping':
        text = t('outbound.stopping');
        break;
    }
    setText(connection, text);
    connection.dataset.tone = publishing === 'live' ? 'ok' : publishing === 'retrying' ? 'warn' : '';

    const live = publishing === 'live';
    const video = [];
    if (live && outbound.width) {
        video.push(t('outbound.kbps', {value: formatNumber(outbound.videoKbps)}));
        video.push(`${outbound.width}×${outbound.height}`);
        video.push(t('outbound.fps', {value: formatNumber(outbound.fps)}));
        if (outbound.videoCodec)
            video.push(outbound.videoCodec);
    }
    setText($('out-video'), video.length ? video.join(' · ') : '—');
    const audio = [];
    if (live && outbound.audioCodec) {
        audio.push(t('outbound.kbps', {value: formatNumber(outbound.audioKbps)}));
        audio.push(outbound.audioCodec);
    }
    setText($('out-audio'), audio.length ? audio.join(' · ') : '—');
    const network = [];
    if (live && outbound.rttMs !== null)
        network.push(t('outbound.rtt', {value: formatNumber(outbound.rttMs)}));
    const limited = live && outbound.limitedFor >= LIMITATION_SAMPLES ? outbound.limitation : '';
    if (limited === 'cpu')
        network.push(t('outbound.limited_cpu'));
    else if (limited === 'bandwidth')
        network.push(t('outbound.limited_bandwidth'));
    const networkCell = $('out-network');
    setText(networkCell, network.length ? network.join(' · ') : '—');
    networkCell.dataset.tone = limited === 'cpu' || limited === 'bandwidth' ? 'warn' : '';
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

/**
 * @param {CameraProblem} problem
 * @returns {string}
 */
function cameraText(problem) {
    switch (problem) {
    case 'denied':
        return t('camera.denied');
    case 'not_found':
        return t('camera.not_found');
    case 'busy':
        return t('camera.busy');
    case 'insecure':
        return t('camera.insecure');
    default:
        return t('camera.failed');
    }
}

main().catch(() => {
    applyI18n(document);
    phase = 'unreachable';
    render();
});
