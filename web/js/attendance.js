// @ts-check
/**
 * The attendance record, as a clerk reads, prints and exports it.
 *
 * /attendance/{session}: one session (admin or that session's host token): the totals, a
 * timeline of every site's connection across the session's window, the table per site, and
 * the downloads. While the session runs, the page refreshes itself every 10 s.
 * /attendance: a period (admin token): the figures a year-end report quotes, the sessions held
 * and the sites that were repeatedly absent or only partly there.
 *
 * The token comes from the link's fragment (#token=…), or is typed into a form; it is kept in
 * this tab's sessionStorage only. Downloads are fetched with it and handed over as blobs, since
 * a plain link could not carry it. Times are shown in the zone the API names.
 */

import {byId as $, element, pathPart, saveFile, setText} from './dom.js';
import {PeriodApi, SessionApi} from './api.js';
import {bindPeriodExports} from './periodexport.js';
import {HttpError} from './httperror.js';
import {
    applyI18n, bindLanguageButtons, formatClock, formatDate, formatDateTime, formatDuration,
    formatNumber, formatPercent, formatSpan, formatTime, hasText, initI18n, onLanguageChange, t,
} from './i18n.js';
import {causeNote} from './cause.js';
import {statusWord} from './status.js';
import {PeoplePanel} from './attendancepeople.js';
import {bindTips, renderTimeline} from './timeline.js';
import {forgetToken, takeToken} from './token.js';
import {DEFAULT_ZONE, isDate, localDate, yearOf} from './zone.js';

/** How often a live session's record is asked for again, in ms. */
const LIVE_REFRESH = 10_000;
/** Each hall's people, and the district clerk's corrections (read again after each). */
const people = new PeoplePanel(() => void load());
/** How often to look again while the session has not started or the server is away, in ms. */
const WAIT_REFRESH = 10_000;

/** Where this tab keeps the admin token, shared by the period view and the session views. */
const ADMIN_KEY = 'diemcau.token.admin';
/** Where this tab keeps the last period looked at, for the way back from a session. */
const RANGE_KEY = 'diemcau.attendance.range';

/**
 * What the page shows: the report, a form for the token, or why there is none.
 * @typedef {'loading'|'login'|'ready'|'not_started'|'not_found'|'unreachable'} Phase
 */

/** @typedef {'session'|'period'} View */

const sessionId = pathPart(2);
/** @type {View} */
const view = sessionId ? 'session' : 'period';
const tokenKey = view === 'session' ? `diemcau.token.attendance.${sessionId}` : ADMIN_KEY;

/** @type {Phase} */
let phase = 'loading';
/** @type {string|null} */
let token = null;
/** Why the form asks for a token: none given yet, or the last one was refused. */
let loginRejected = false;

/** @type {import('./api.js').AttendanceReport|null} */
let report = null;
/** @type {import('./api.js').Me|null} for the title and schedule of a session not started */
let me = null;
/** @type {import('./api.js').PeriodReport|null} */
let period = null;
/** When the shown figures arrived (ms), and whether the last attempt to refresh them failed. */
const freshness = {at: 0, failing: false};
/** @type {ReturnType<typeof setTimeout>|null} */
let refreshTimer = null;
/** @type {{key: string, vars?: Record<string, string|number>, tone: string}|null} */
let exportStatus = null;
/** @type {{from: string, to: string}} */
let range = {from: '', to: ''};
/** @type {{key: string}|null} */
let rangeProblem = null;

/** @returns {string} the zone the figures are shown in */
function zone() {
    return (view === 'session' ? report?.timezone : period?.timezone) || DEFAULT_ZONE;
}

/** @param {string} key @returns {string|null} */
function readStorage(key) {
    try {
        return sessionStorage.getItem(key);
    } catch {
        return null;
    }
}

/** @param {string} key @param {string} value */
function writeStorage(key, value) {
    try {
        sessionStorage.setItem(key, value);
    } catch {
        // Storage disabled: the value lives as long as the page.
    }
}

async function main() {
    await initI18n();
    bindLanguageButtons(document);
    onLanguageChange(render);
    bindControls();
    // A session view reached from the period view in this tab uses the admin token kept there.
    token = takeToken(tokenKey) || (view === 'session' ? readStorage(ADMIN_KEY) : null);
    if (view === 'period')
        range = initialRange();
    if (!token) {
        phase = 'login';
        render();
        return;
    }
    await load();
}

/** Asks for the record (again), then schedules the next time while it can change. */
async function load() {
    if (refreshTimer)
        clearTimeout(refreshTimer);
    refreshTimer = null;
    if (!token)
        return;
    if (view === 'session')
        await loadSession(token);
    else
        await loadPeriod(token);
    render();
    const again = phase === 'not_started' || (phase === 'ready' && freshness.failing)
        || phase === 'unreachable' || (view === 'session' && phase === 'ready' && report?.live);
    if (again)
        refreshTimer = setTimeout(() => void load(), report?.live ? LIVE_REFRESH : WAIT_REFRESH);
}

/** @param {string} bearer */
async function loadSession(bearer) {
    const api = new SessionApi(sessionId, bearer);
    try {
        report = await api.attendance();
        phase = 'ready';
        void people.load(api, report);
        freshness.at = Date.now();
        freshness.failing = false;
    } catch (e) {
        if (!(e instanceof HttpError))
            throw e;
        if (e.error === 'not_started') {
            phase = 'not_started';
            me = await api.me().catch(() => me);
        } else {
            failed(e);
        }
    }
}

/** @param {string} bearer */
async function loadPeriod(bearer) {
    try {
        period = await new PeriodApi(bearer).attendance(range.from, range.to);
        phase = 'ready';
        freshness.at = Date.now();
        freshness.failing = false;
        writeStorage(RANGE_KEY, `from=${period.from || range.from}&to=${period.to || range.to}`);
    } catch (e) {
        if (!(e instanceof HttpError))
            throw e;
        if (e.status === 422) {
            // The server's own limits on the dates (422 invalid_query).
            rangeProblem = {key: 'period.range_refused'};
            phase = 'ready';
            return;
        }
        failed(e);
    }
}

/**
 * What a failed request leaves on the page.
 * @param {HttpError} e
 */
function failed(e) {
    if (e.invalidLink) {
        forgetToken(tokenKey);
        if (token === readStorage(ADMIN_KEY))
            forgetToken(ADMIN_KEY);
        token = null;
        loginRejected = true;
        phase = 'login';
    } else if (e.status === 404) {
        phase = 'not_found';
    } else if (phase === 'ready') {
        freshness.failing = true; // Keep what is shown, say it is not current.
    } else {
        phase = 'unreachable';
    }
}

/** @returns {{from: string, to: string}} the period in the address, else this calendar year */
function initialRange() {
    const query = new URLSearchParams(location.search);
    const from = query.get('from') || '';
    const to = query.get('to') || '';
    if (isDate(from) && isDate(to) && from <= to)
        return {from, to};
    return yearOf(Date.now(), DEFAULT_ZONE);
}

// ---- controls ----

function bindControls() {
    $('login-form').addEventListener('submit', event => {
        event.preventDefault();
        const input = /** @type {HTMLInputElement} */ ($('login-token'));
        const typed = input.value.trim();
        if (!typed) {
            input.focus();
            return;
        }
        input.value = '';
        writeStorage(tokenKey, typed);
        token = typed;
        loginRejected = false;
        phase = 'loading';
        render();
        void load();
    });
    for (const button of document.querySelectorAll('[data-export]')) {
        button.addEventListener('click', () => {
            void download(/** @type {import('./api.js').ExportFormat} */ (
                button.getAttribute('data-export')), /** @type {HTMLButtonElement} */ (button));
        });
    }
    $('print').addEventListener('click', () => window.print());
    $('period-print').addEventListener('click', () => window.print());
    bindPeriodExports(() => token, () => ({from: period?.from || range.from, to: period?.to || range.to}));
    $('range').addEventListener('submit', event => {
        event.preventDefault();
        const from = /** @type {HTMLInputElement} */ ($('range-from')).value;
        const to = /** @type {HTMLInputElement} */ ($('range-to')).value;
        if (!isDate(from) || !isDate(to)) {
            rangeProblem = {key: 'period.range_invalid'};
        } else if (from > to) {
            rangeProblem = {key: 'period.range_reversed'};
        } else {
            rangeProblem = null;
            changeRange({from, to});
            return;
        }
        render();
    });
    $('range-year').addEventListener('click', () => {
        rangeProblem = null;
        changeRange(yearOf(Date.now(), zone()));
    });
    $('logout').addEventListener('click', () => {
        forgetToken(ADMIN_KEY);
        token = null;
        period = null;
        loginRejected = false;
        phase = 'login';
        render();
    });
    // The links to a session: that view takes the admin token from this tab's storage. Opened
    // in another tab, which has no such storage, the link carries it in its fragment.
    $('session-rows').addEventListener('click', openInNewTab);
    $('session-rows').addEventListener('auxclick', openInNewTab);
    bindTips();
}

/**
 * A session link followed into another tab (middle click, Ctrl or ⌘ click): with the token.
 * @param {MouseEvent} event
 */
function openInNewTab(event) {
    const link = event.target instanceof Element ? event.target.closest('a[data-session]') : null;
    if (!(link instanceof HTMLAnchorElement) || !token)
        return;
    const newTab = event.type === 'auxclick' ? event.button === 1
        : event.ctrlKey || event.metaKey || event.shiftKey;
    if (!newTab)
        return;
    event.preventDefault();
    window.open(`${link.pathname}#token=${encodeURIComponent(token)}`, '_blank', 'noopener');
}

/** @param {{from: string, to: string}} next */
function changeRange(next) {
    range = next;
    const url = new URL(location.href);
    url.search = new URLSearchParams(next).toString();
    url.hash = '';
    history.replaceState(history.state, '', url.pathname + url.search);
    render();
    void load();
}

/**
 * Fetches an export with the token and hands it to the browser as a download.
 * @param {import('./api.js').ExportFormat} format
 * @param {HTMLButtonElement} button
 */
async function download(format, button) {
    if (!token || button.disabled)
        return;
    button.disabled = true;
    exportStatus = {key: 'export.fetching', vars: {format: t(`export.${format}`)}, tone: 'info'};
    render();
    try {
        const file = await new SessionApi(sessionId, token).download(format);
        saveFile(file);
        exportStatus = {key: 'export.done', vars: {name: file.filename}, tone: 'ok'};
    } catch (e) {
        if (!(e instanceof HttpError))
            throw e;
        exportStatus = e.status === 0
            ? {key: 'export.network', tone: 'error'}
            : {key: 'export.failed', vars: {message: e.message || e.error}, tone: 'error'};
        if (e.invalidLink)
            failed(e);
    } finally {
        button.disabled = false;
        render();
    }
}

// ---- drawing ----

function render() {
    const blocked = phase !== 'ready';
    $('login').hidden = phase !== 'login';
    $('blocker').hidden = !blocked || phase === 'login';
    $('session-view').hidden = blocked || view !== 'session' || !report;
    $('period-view').hidden = blocked || view !== 'period';
    if (phase === 'login')
        renderLogin();
    else if (blocked)
        renderBlocker();

    const alert = $('alert');
    const stale = phase === 'ready' && freshness.failing;
    setText(alert, stale ? t('report.stale', {time: formatTime(freshness.at)}) : '');
    alert.hidden = !stale;
    alert.dataset.tone = 'error';

    if (view === 'session')
        renderSession();
    else
        renderPeriod();
}

function renderLogin() {
    setText($('login-detail'), view === 'session' ? t('login.detail_session') : t('login.detail_period'));
    setText($('login-label'), view === 'session' ? t('login.label_session') : t('login.label_period'));
    const error = $('login-error');
    setText(error, loginRejected ? t('login.rejected') : '');
    error.hidden = !loginRejected;
    setText($('title'), view === 'session' ? '' : t('period.heading'));
    setText($('subtitle'), '');
    $('live').hidden = true;
    document.title = t('report.doc_title');
}

function renderBlocker() {
    /** @type {[string, string]} */
    let text;
    switch (phase) {
    case 'not_started': {
        const session = me ? me.session : null;
        text = [t('report.not_started'), session && session.scheduled_start
            ? t('report.not_started_at', {time: formatDateTime(session.scheduled_start, zone())})
            : t('report.not_started_detail')];
        break;
    }
    case 'not_found':
        text = [t('report.not_found'), t('report.not_found_detail')];
        break;
    case 'unreachable':
        text = [t('report.unreachable'), t('report.unreachable_detail')];
        break;
    default:
        text = [t('state.loading'), ''];
    }
    setText($('blocker-title'), text[0]);
    setText($('blocker-detail'), text[1]);
}

// ---- one session ----

function renderSession() {
    const back = /** @type {HTMLAnchorElement} */ ($('back-link'));
    const adminHere = Boolean(readStorage(ADMIN_KEY));
    back.hidden = !adminHere;
    back.href = `/attendance${adminHere && readStorage(RANGE_KEY) ? `?${readStorage(RANGE_KEY)}` : ''}`;
    if (phase !== 'ready' || !report) {
        const title = me ? me.session.title : '';
        setText($('title'), title);
        setText($('subtitle'), '');
        $('live').hidden = true;
        document.title = title ? `${title} · ${t('report.doc_title')}` : t('report.doc_title');
        return;
    }
    const r = report;
    const tz = zone();
    const title = r.title || (me ? me.session.title : '') || r.session;
    document.title = `${title} · ${t('report.doc_title')}`;
    setText($('title'), title);
    setText($('subtitle'), windowText(r.window, r.live, tz));
    $('live').hidden = !r.live;

    const totals = r.totals;
    setText($('fig-invited'), formatNumber(totals.invited));
    renderStatuses($('fig-statuses'), totals.present, totals.partial, totals.absent);
    setText($('fig-connected'), t('report.rate_of', {
        rate: formatPercent(totals.connected_rate),
        part: formatNumber(totals.present + totals.partial),
        whole: formatNumber(totals.invited),
    }));
    setText($('fig-headcount'), t('report.of', {
        part: formatNumber(totals.headcount), whole: formatNumber(totals.expected),
    }));
    setText($('fig-participation'), formatPercent(totals.participation_rate));

    renderTimeline(r, tz);
    renderSiteRows(r, tz);

    setText($('rules'), r.rules ? rulesText(r.rules) : '');
    const notes = [];
    if (r.skipped_lines > 0)
        notes.push(t('report.skipped_lines', {n: formatNumber(r.skipped_lines)}));
    if (r.unknown_sites && r.unknown_sites.length)
        notes.push(t('report.unknown_sites', {sites: r.unknown_sites.join(', ')}));
    setText($('log-notes'), notes.join(' '));
    $('log-notes').hidden = notes.length === 0;
    setText($('generated'), t(r.live ? 'report.generated_live' : 'report.generated', {
        time: formatDateTime(freshness.at, tz), zone: tz,
    }));

    const status = $('export-status');
    setText(status, exportStatus ? t(exportStatus.key, exportStatus.vars) : '');
    status.hidden = !exportStatus;
    status.dataset.tone = exportStatus ? exportStatus.tone : '';
}

/**
 * How the statuses were worked out, for the record.
 * @param {import('./api.js').AttendanceRules} rules
 * @returns {string}
 */
function rulesText(rules) {
    return t('report.rules', {
        coverage: formatPercent(rules.present_coverage),
        late: formatSpan(rules.late_after_seconds),
        early: formatSpan(rules.early_before_seconds),
        grace: formatSpan(rules.gap_grace_seconds),
    });
}

/**
 * The session's window in words: "08:00 – 11:02, Thứ Hai 01/12/2025 · 3 giờ 2 phút".
 * @param {import('./api.js').AttendanceWindow} window
 * @param {boolean} live
 * @param {string} tz
 * @returns {string}
 */
function windowText(window, live, tz) {
    const start = Date.parse(window.start);
    const end = Date.parse(window.end);
    const duration = formatSpan(window.seconds);
    if (live) {
        return t('report.window_live', {
            start: formatClock(start, tz), date: formatDate(start, tz, true), duration,
        });
    }
    if (localDate(start, tz) === localDate(end, tz)) {
        return t('report.window', {
            start: formatClock(start, tz), end: formatClock(end, tz),
            date: formatDate(start, tz, true), duration,
        });
    }
    return t('report.window_days', {
        start: formatDateTime(start, tz), end: formatDateTime(end, tz), duration,
    });
}

/**
 * "5 có mặt, 2 một phần, 1 vắng", each in its colour, wrapping as whole words.
 * @param {HTMLElement} target
 * @param {number} present
 * @param {number} partial
 * @param {number} absent
 */
function renderStatuses(target, present, partial, absent) {
    const list = element('span', 'status-list');
    list.append(
        statusWord('present', t('report.n_present', {n: formatNumber(present)})),
        statusWord('partial', t('report.n_partial', {n: formatNumber(partial)})),
        statusWord('absent', t('report.n_absent', {n: formatNumber(absent)})),
    );
    target.replaceChildren(list);
}

/** @param {string} kind @returns {string} */
function kindName(kind) {
    return hasText(`kind.${kind}`) ? t(`kind.${kind}`) : kind || '';
}

/**
 * The table of the sites, one row each.
 * @param {import('./api.js').AttendanceReport} r
 * @param {string} tz
 */
function renderSiteRows(r, tz) {
    const rows = r.sites.map(site => {
        const row = document.createElement('tr');
        row.dataset.status = site.status;
        const name = element('th', 'site-name-cell', site.name);
        name.setAttribute('scope', 'row');
        const status = element('td');
        status.append(statusWord(site.status));
        const cause = causeNote(site);
        if (cause)
            status.append(cause);
        const late = element('td', 'flag', site.late ? t('report.late') : '—');
        late.dataset.on = String(site.late);
        const early = element('td', 'flag', site.left_early ? t('report.left_early') : '—');
        early.dataset.on = String(site.left_early);
        let lastLeave = formatTime(site.last_leave, tz);
        if (!site.last_leave && site.first_join)
            lastLeave = r.live ? t('report.still_connected') : t('report.until_end');
        const headcount = typeof site.headcount === 'number' ? formatNumber(site.headcount) : '—';
        row.append(
            name,
            element('td', 'kind', kindName(site.kind)),
            status,
            late,
            early,
            element('td', 'num', formatTime(site.first_join, tz) || '—'),
            element('td', 'num', lastLeave || '—'),
            element('td', 'num', formatDuration(site.connected_seconds * 1000)),
            element('td', 'num', formatPercent(site.coverage, 1)),
            element('td', 'num', formatNumber(site.interruptions)),
            element('td', 'num', site.interruptions
                ? formatDuration(site.longest_outage_seconds * 1000) : '—'),
            element('td', 'num', t('report.of', {
                part: headcount,
                whole: typeof site.expected === 'number' ? formatNumber(site.expected) : '—',
            })),
            element('td', 'num', formatPercent(site.headcount_rate)),
            cameraCell(site),
        );
        return row;
    });
    $('site-rows').replaceChildren(...rows);
}

/**
 * The hall camera's stable count, an estimate, said when it disagrees with the check-ins or
 * the headcount (docs/attendance.md, The camera's count).
 * @param {import('./api.js').SiteAttendance} site
 */
function cameraCell(site) {
    const count = typeof site.people_count === 'number' ? formatNumber(site.people_count) : '—';
    const disagrees = site.people_count_disagrees === true;
    const cell = element('td', 'num people-count',
        disagrees ? t('report.people_count_disagrees', {count}) : count);
    cell.dataset.disagrees = String(disagrees);
    return cell;
}

// ---- a period ----

function renderPeriod() {
    const fromInput = /** @type {HTMLInputElement} */ ($('range-from'));
    const toInput = /** @type {HTMLInputElement} */ ($('range-to'));
    if (document.activeElement !== fromInput && range.from)
        fromInput.value = range.from;
    if (document.activeElement !== toInput && range.to)
        toInput.value = range.to;
    const rangeError = $('range-error');
    setText(rangeError, rangeProblem ? t(rangeProblem.key) : '');
    rangeError.hidden = !rangeProblem;
    $('live').hidden = true;
    if (phase === 'login')
        return;
    setText($('title'), t('period.heading'));
    const p = period;
    const tz = zone();
    const shown = p ? {from: p.from || range.from, to: p.to || range.to} : range;
    setText($('subtitle'), rangeText(shown.from, shown.to));
    document.title = `${t('period.heading')} · ${rangeText(shown.from, shown.to)}`;
    if (!p)
        return;

    const totals = p.totals;
    setText($('headline'), t(wholeYear(shown) ? 'period.headline_year' : 'period.headline', {
        year: shown.from.slice(0, 4),
        range: rangeText(shown.from, shown.to),
        sessions: formatNumber(totals.sessions_held),
        connected: formatPercent(totals.connected_rate),
        participation: formatPercent(totals.participation_rate),
        coverage: formatPercent(totals.average_coverage),
    }));
    setText($('pfig-sessions'), formatNumber(totals.sessions_held));
    setText($('pfig-connected'), formatPercent(totals.connected_rate));
    setText($('pfig-coverage'), formatPercent(totals.average_coverage));
    setText($('pfig-headcount'), t('report.of', {
        part: formatNumber(totals.headcount), whole: formatNumber(totals.expected),
    }));
    setText($('pfig-participation'), formatPercent(totals.participation_rate));

    const flagged = p.sites.filter(site => site.repeatedly_absent_or_partial);
    $('flagged').hidden = flagged.length === 0;
    $('flagged-list').replaceChildren(...flagged.map(site => {
        const item = element('li');
        item.append(element('strong', '', site.name), ' — ', t('period.flagged_counts', {
            absent: formatNumber(site.absent), partial: formatNumber(site.partial),
            sessions: formatNumber(site.sessions),
        }));
        return item;
    }));

    $('session-rows').replaceChildren(...p.sessions.map(session => sessionRow(session, tz)));
    $('sessions-empty').hidden = p.sessions.length > 0;

    $('period-site-rows').replaceChildren(...p.sites.map(site => {
        const row = document.createElement('tr');
        row.dataset.flagged = String(site.repeatedly_absent_or_partial);
        const name = element('th', 'site-name-cell', site.name);
        name.setAttribute('scope', 'row');
        const flag = element('td', 'flag');
        flag.dataset.on = String(site.repeatedly_absent_or_partial);
        if (site.repeatedly_absent_or_partial)
            flag.append(statusWord('partial', t('period.flag')));
        row.append(
            name,
            element('td', 'kind', kindName(site.kind)),
            element('td', 'num', formatNumber(site.sessions)),
            element('td', 'num', formatNumber(site.present)),
            element('td', 'num', formatNumber(site.partial)),
            element('td', 'num', formatNumber(site.absent)),
            element('td', 'num', formatPercent(site.average_coverage)),
            flag,
        );
        return row;
    }));
    const rules = p.rules ? rulesText(p.rules) : '';
    setText($('period-generated'), `${rules ? `${rules} ` : ''}${t('report.generated', {
        time: formatDateTime(freshness.at, tz), zone: tz,
    })}`);
}

/**
 * @param {import('./api.js').PeriodSession} session
 * @param {string} tz
 * @returns {HTMLTableRowElement}
 */
function sessionRow(session, tz) {
    const row = document.createElement('tr');
    const start = session.window ? Date.parse(session.window.start) : NaN;
    const end = session.window ? Date.parse(session.window.end) : NaN;
    const when = element('td', 'when');
    when.append(element('span', 'when-date', formatDate(start, tz)),
        element('span', 'when-time', Number.isNaN(end) ? formatClock(start, tz)
            : `${formatClock(start, tz)} – ${formatClock(end, tz)}`));
    const title = element('th', 'session-cell');
    title.setAttribute('scope', 'row');
    const link = /** @type {HTMLAnchorElement} */ (element('a', '', session.title));
    link.href = `/attendance/${encodeURIComponent(session.id)}`;
    link.dataset.session = session.id;
    title.append(link);
    if (session.live) {
        const badge = element('span', 'badge mini', t('report.live'));
        badge.dataset.state = 'live';
        title.append(' ', badge);
    }
    const statuses = element('td', 'num statuses');
    renderStatuses(statuses, session.present, session.partial, session.absent);
    row.append(
        when,
        title,
        element('td', 'num', formatNumber(session.invited)),
        statuses,
        element('td', 'num', formatPercent(session.connected_rate)),
        element('td', 'num', formatPercent(session.average_coverage)),
        element('td', 'num', t('report.of', {
            part: formatNumber(session.headcount), whole: formatNumber(session.expected),
        })),
        element('td', 'num', formatPercent(session.participation_rate)),
    );
    return row;
}

/**
 * @param {{from: string, to: string}} shown
 * @returns {boolean}
 */
function wholeYear(shown) {
    const year = shown.from.slice(0, 4);
    return shown.from === `${year}-01-01` && shown.to === `${year}-12-31`;
}

/**
 * "01/01/2025 – 31/12/2025", the dates as the reader writes them.
 * @param {string} from YYYY-MM-DD
 * @param {string} to YYYY-MM-DD
 * @returns {string}
 */
function rangeText(from, to) {
    // Noon UTC is the same calendar day in every zone the district could be in.
    const day = (/** @type {string} */ date) => formatDate(`${date}T12:00:00Z`, 'UTC');
    return t('period.range', {from: day(from), to: day(to)});
}

main().catch(() => {
    applyI18n(document);
    phase = 'unreachable';
    render();
});
