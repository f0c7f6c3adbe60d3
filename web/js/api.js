// @ts-check
/**
 * The JSON API, called with a bearer token: one session (SessionApi), and the attendance over
 * a period (PeriodApi). No DOM here.
 *
 * Every failure is thrown as an HttpError: {status, error, message}, where status is 0 and
 * error 'network' when the server could not be reached at all.
 */

import {HttpError, refusal, unanswered} from './httperror.js';

/** How long one API call may take before it counts as a network failure, in ms. */
const REQUEST_TIMEOUT = 8000;

/**
 * @typedef {'scheduled'|'live'|'ended'} SessionState
 */

/**
 * @typedef {'key'|'grassroots'} SessionKind key cadres' conferences, or the communes' members'
 */

/**
 * @typedef {Object} Session
 * @property {string} id
 * @property {string} title
 * @property {SessionKind} [kind] the kind of conference, counted apart in a period's figures
 * @property {SessionState} state
 * @property {string|null} scheduled_start RFC 3339
 * @property {string|null} scheduled_end RFC 3339
 * @property {string|null} started_at RFC 3339
 * @property {string|null} ended_at RFC 3339
 */

/**
 * @typedef {Object} Site
 * @property {string} id
 * @property {string} name
 * @property {string} kind 'commune', 'town', 'agency'…
 * @property {number} expected how many people the hall expects
 */

/**
 * What a token may do, from GET /api/sessions/{id}/me.
 * @typedef {Object} Me
 * @property {'host'|'site'} role
 * @property {Session} session
 * @property {Site|null} site
 * @property {string} [whip_url] host only
 * @property {string} [whep_url] site only
 * @property {Headcount|null} [headcount] site only: the last count the hall reported
 * @property {RTCIceServer[]} ice_servers the TURN servers to offer with (empty without TURN)
 */

/**
 * How many people a hall said are present, and when it said so.
 * @typedef {Object} Headcount
 * @property {number} present
 * @property {string} ts RFC 3339
 */

/**
 * The answer to a headcount report.
 * @typedef {Object} HeadcountReport
 * @property {string} site
 * @property {number} present
 * @property {string} ts RFC 3339
 */

/**
 * One invited site as the host sees it, from GET /api/sessions/{id}/sites.
 * @typedef {Object} SiteStatus
 * @property {string} site
 * @property {string} name
 * @property {string} kind
 * @property {number} expected
 * @property {boolean} connected
 * @property {string|null} connected_since RFC 3339
 * @property {number} connections
 * @property {number} packets_sent
 * @property {number} bytes_sent
 * @property {number|null} [headcount] the last count the hall reported
 * @property {string|null} [headcount_at] RFC 3339, when it did
 * @property {number|null} [people_expected] its roster's length; null without a roster
 * @property {number|null} [people_present] of its roster, checked in so far (late included)
 * @property {number|null} [people_excused] of its roster, absent with a reason
 * @property {number|null} [people_unexcused] of its roster, neither
 * @property {string|null} [cause] why it is not connected now (attendance/outage.py), or null
 * @property {string|null} [cause_reason] the log's reason with it (media_failed, network_lost)
 */

/**
 * The sites of a session added up, as the console shows them.
 * @typedef {Object} SitesTotals
 * @property {number} invited
 * @property {number} connected
 * @property {number} expected people expected, all sites
 * @property {number} headcount people reported present, in the sites connected now
 * @property {number|null} participation_rate headcount / expected
 * @property {number} [people_expected] on the rosters, all sites (0 without rosters)
 * @property {number} [people_present] checked in so far, late included
 * @property {number} [people_excused]
 * @property {number} [people_unexcused]
 * @property {number|null} [people_present_rate] people_present / people_expected
 */

/**
 * @typedef {Object} SitesReport
 * @property {string} session
 * @property {SessionState} state
 * @property {SiteStatus[]} sites
 * @property {SitesTotals} [totals]
 */

/** @typedef {'present'|'partial'|'absent'} AttendanceStatus */

/**
 * @typedef {Object} AttendanceWindow
 * @property {string} start RFC 3339
 * @property {string} end RFC 3339
 * @property {number} seconds
 */

/**
 * The rules the report applied, as the server configured them.
 * @typedef {Object} AttendanceRules
 * @property {number} present_coverage share of the window a site must be connected to be present
 * @property {number} late_after_seconds
 * @property {number} early_before_seconds
 * @property {number} gap_grace_seconds outages this short count as connected
 */

/**
 * One invited site in an attendance report.
 * @typedef {Object} SiteAttendance
 * @property {string} site
 * @property {string} name
 * @property {string} kind
 * @property {number|null} expected
 * @property {AttendanceStatus} status
 * @property {boolean} late
 * @property {boolean} left_early
 * @property {string|null} first_join RFC 3339
 * @property {string|null} last_leave RFC 3339; null while still connected
 * @property {number} connected_seconds
 * @property {number} coverage 0 to 1
 * @property {number} interruptions
 * @property {number} longest_outage_seconds
 * @property {number|null} headcount
 * @property {number|null} headcount_rate
 * @property {string|null} [cause] why it missed time: never_opened, opened_late, media_failed,
 *     network_lost; null when there throughout
 * @property {string|null} [cause_reason] the join log's reason (ice_timeout, failed...)
 * @property {Array<[string, string]>} [intervals] connected intervals, with intervals=1
 * @property {{id: string, name: string, status: 'present'|'late'|'absent'|'excused',
 *     checked_in_at: string|null, method: string|null, reason: string|null}[]} [people]
 *     the hall's roster, each person's status
 * @property {number|null} [people_present_rate] present or late, of the roster
 * @property {number|null} [people_excused_rate]
 * @property {number|null} [people_unexcused_rate]
 * @property {number|null} [people_count] the hall camera's stable count, an estimate
 * @property {boolean|null} [people_count_disagrees] beyond the tolerance from the check-ins or
 *     the headcount; null with nothing to compare
 */

/**
 * @typedef {Object} AttendanceTotals
 * @property {number} invited
 * @property {number} present
 * @property {number} partial
 * @property {number} absent
 * @property {number} expected
 * @property {number} headcount
 * @property {number|null} participation_rate headcount / expected
 * @property {number|null} connected_rate (present + partial) / invited
 * @property {number} [people_expected] the rosters' people, all sites
 * @property {number} [people_present] present or late
 * @property {number} [people_excused]
 * @property {number} [people_unexcused]
 * @property {number|null} [people_present_rate]
 * @property {number|null} [people_excused_rate]
 * @property {number|null} [people_unexcused_rate]
 */

/**
 * The attendance of one session, from GET /api/sessions/{id}/attendance.
 * @typedef {Object} AttendanceReport
 * @property {string} session
 * @property {string} [title]
 * @property {boolean} live
 * @property {string} [timezone] IANA zone the district reports in
 * @property {AttendanceWindow} window
 * @property {AttendanceRules} rules
 * @property {number} skipped_lines join log lines that could not be read
 * @property {SiteAttendance[]} sites
 * @property {string[]} unknown_sites sites in the log that were not invited
 * @property {AttendanceTotals} totals
 */

/**
 * One session in a period report.
 * @typedef {Object} PeriodSession
 * @property {string} id
 * @property {string} title
 * @property {AttendanceWindow} window
 * @property {boolean} live
 * @property {number} invited
 * @property {number} present
 * @property {number} partial
 * @property {number} absent
 * @property {number} expected
 * @property {number} headcount
 * @property {number|null} average_coverage
 * @property {number|null} participation_rate
 * @property {number|null} connected_rate
 */

/**
 * One site across the sessions of a period.
 * @typedef {Object} PeriodSite
 * @property {string} site
 * @property {string} name
 * @property {string} kind
 * @property {number} sessions invited to
 * @property {number} present
 * @property {number} partial
 * @property {number} absent
 * @property {number|null} average_coverage
 * @property {boolean} repeatedly_absent_or_partial
 */

/**
 * @typedef {Object} PeriodTotals
 * @property {number} sessions_held
 * @property {number|null} average_coverage
 * @property {number|null} participation_rate
 * @property {number|null} connected_rate
 * @property {number} invited
 * @property {number} expected
 * @property {number} headcount
 */

/**
 * The attendance over a period, from GET /api/attendance (admin).
 * @typedef {Object} PeriodReport
 * @property {string} from YYYY-MM-DD
 * @property {string} to YYYY-MM-DD
 * @property {string} [timezone]
 * @property {AttendanceRules} [rules]
 * @property {PeriodTotals} totals
 * @property {PeriodSession[]} sessions
 * @property {PeriodSite[]} sites
 */

/**
 * The files a session's attendance can be downloaded as.
 * @typedef {'csv'|'csv_vi'|'xlsx'|'pdf'|'json'|'log'} ExportFormat
 */

/**
 * A downloaded file.
 * @typedef {Object} Download
 * @property {Blob} blob
 * @property {string} filename as the server named it, else one made here
 */

/** Where each export comes from, and the name it gets when the server gives none. */
const EXPORTS = /** @type {Record<ExportFormat, {action: string, name: (id: string) => string}>} */ ({
    csv: {action: 'attendance?format=csv', name: id => `diemdanh-${id}.csv`},
    csv_vi: {action: 'attendance?format=csv&lang=vi', name: id => `diemdanh-${id}.csv`},
    xlsx: {action: 'attendance?format=xlsx', name: id => `diemdanh-${id}.xlsx`},
    pdf: {action: 'attendance?format=pdf', name: id => `diemdanh-${id}.pdf`},
    json: {action: 'attendance?format=json&intervals=1', name: id => `diemdanh-${id}.json`},
    log: {action: 'events', name: id => `joinlog-${id}.jsonl`},
});

/** The API of one session, as one token sees it. */
export class SessionApi {
    /**
     * @param {string} sessionId
     * @param {string} token
     */
    constructor(sessionId, token) {
        /** @type {string} */
        this.sessionId = sessionId;
        /** @type {string} */
        this.token = token;
    }

    /** @returns {Promise<Me>} */
    me() {
        return this.request('GET', 'me');
    }

    /** @returns {Promise<SitesReport>} */
    sites() {
        return this.request('GET', 'sites');
    }

    /** @returns {Promise<Session>} */
    start() {
        return this.request('POST', 'start');
    }

    /** @returns {Promise<Session>} */
    end() {
        return this.request('POST', 'end');
    }

    /**
     * Reports (or corrects) how many people are present in a hall; with the site's token.
     * @param {string} siteId
     * @param {number} present a whole number from 0
     * @returns {Promise<HeadcountReport>}
     */
    reportHeadcount(siteId, present) {
        return this.request('POST', `sites/${encodeURIComponent(siteId)}/headcount`, {present});
    }

    /**
     * The attendance report with each site's connected intervals; 409 'not_started' before
     * the session began.
     * @returns {Promise<AttendanceReport>}
     */
    attendance() {
        return this.request('GET', 'attendance?format=json&intervals=1');
    }

    /**
     * The attendance as a file (or the raw join log), fetched with the token, which a plain
     * link could not carry.
     * @param {ExportFormat} format
     * @returns {Promise<Download>}
     */
    download(format) {
        const {action, name} = EXPORTS[format];
        return downloadFile(this.url(action), this.token, name(this.sessionId));
    }

    /**
     * @template T what the server answers, as the docs say (not checked here)
     * @param {string} method
     * @param {string} action the path below the session, with its query if any
     * @param {unknown} [body] sent as JSON
     * @returns {Promise<T>}
     */
    request(method, action, body) {
        return requestJson(method, this.url(action), this.token, body);
    }

    /**
     * @param {string} action
     * @returns {string}
     */
    url(action) {
        return `/api/sessions/${encodeURIComponent(this.sessionId)}/${action}`;
    }
}

/** The attendance across sessions, as the admin token sees it. */
export class PeriodApi {
    /** @param {string} token the admin token */
    constructor(token) {
        /** @type {string} */
        this.token = token;
    }

    /**
     * Every session held between two dates (both included, in the district's zone).
     * @param {string} from YYYY-MM-DD
     * @param {string} to YYYY-MM-DD
     * @returns {Promise<PeriodReport>}
     */
    attendance(from, to) {
        const query = new URLSearchParams({from, to});
        return requestJson('GET', `/api/attendance?${query}`, this.token);
    }

    /**
     * The period's figures as the office's workbook or its PDF report.
     * @param {'xlsx'|'pdf'} format
     * @param {string} from YYYY-MM-DD
     * @param {string} to YYYY-MM-DD
     * @returns {Promise<Download>}
     */
    download(format, from, to) {
        const query = new URLSearchParams({from, to, format});
        return downloadFile(`/api/attendance?${query}`, this.token, `diemdanh-${from}-${to}.${format}`);
    }
}

/**
 * A file fetched with the token (a plain link could not carry it), named as the server names
 * it, else `fallback`. Only the headers are timed: a large file takes as long as it takes.
 * @param {string} url
 * @param {string} token
 * @param {string} fallback
 * @returns {Promise<Download>}
 */
export async function downloadFile(url, token, fallback) {
    const response = await send('GET', url, token, undefined, '*/*', 60_000);
    if (!response.ok)
        throw await refusal(response);
    let blob;
    try {
        blob = await response.blob();
    } catch (e) {
        throw unanswered(e);
    }
    const filename = attachmentName(response.headers.get('Content-Disposition')) || fallback;
    return {blob, filename};
}

/**
 * One call that answers JSON.
 * @template T what the server answers, as the docs say (not checked here)
 * @param {string} method
 * @param {string} url
 * @param {string} token
 * @param {unknown} [body] sent as JSON, or as it is when a Blob
 * @returns {Promise<T>}
 */
export async function requestJson(method, url, token, body) {
    const response = await send(method, url, token, body, 'application/json', REQUEST_TIMEOUT);
    if (!response.ok)
        throw await refusal(response);
    /** @type {unknown} */
    let answer = null;
    try {
        answer = await response.json();
    } catch {
        // An empty or non-JSON body.
    }
    if (answer === null)
        throw new HttpError(response.status, 'bad_response', 'the server answered without JSON');
    return /** @type {T} */ (answer);
}

/**
 * Sends a request with the bearer token (none when ''); a network failure or a timeout is an
 * HttpError.
 * @param {string} method
 * @param {string} url
 * @param {string} token
 * @param {unknown} body sent as JSON when not undefined, as it is when a Blob
 * @param {string} accept
 * @param {number} timeout ms until the headers must have come
 * @returns {Promise<Response>}
 */
async function send(method, url, token, body, accept, timeout) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    /** @type {Record<string, string>} */
    const headers = {Accept: accept};
    // No token, no header: the phone's check-in (the code is its credential) has none.
    if (token)
        headers.Authorization = `Bearer ${token}`;
    // A Blob (a CSV file) is sent as it is, with its own type; anything else as JSON.
    const raw = body instanceof Blob;
    if (body !== undefined)
        headers['Content-Type'] = raw ? body.type : 'application/json';
    try {
        return await fetch(url, {
            method,
            headers,
            body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
            cache: 'no-store',
            signal: controller.signal,
        });
    } catch (e) {
        throw unanswered(e);
    } finally {
        clearTimeout(timer);
    }
}

/**
 * The file name a Content-Disposition header gives, '' when none usable.
 * @param {string|null} header
 * @returns {string}
 */
export function attachmentName(header) {
    if (!header)
        return '';
    const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header);
    let name = '';
    if (extended) {
        try {
            name = decodeURIComponent(extended[1].trim());
        } catch {
            name = '';
        }
    }
    if (!name) {
        const plain = /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/.exec(header);
        name = plain ? (plain[1] ?? plain[2] ?? '').replace(/\\(.)/g, '$1') : '';
    }
    // A name, not a path.
    return name.replace(/[\\/]/g, '_').replace(/^\.+/, '').trim();
}
