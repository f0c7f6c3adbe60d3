// @ts-check
/**
 * The office's API, with the admin token: the sites and their CSV import, the sessions, their
 * links and their recordings (docs/api.md). No DOM here.
 */

import {downloadFile, requestJson} from './api.js';

/**
 * @typedef {import('./api.js').Site} Site
 * @typedef {import('./api.js').Session} Session
 */

/**
 * A session with the sites it invites, from GET /api/sessions/{id}.
 * @typedef {Session & {invites: {site: string, name: string, kind: string, expected: number}[]}} SessionDetail
 */

/**
 * What a new session needs; without `sites`, every site is invited.
 * @typedef {Object} NewSession
 * @property {string} title
 * @property {string} scheduled_start RFC 3339
 * @property {string} scheduled_end RFC 3339
 * @property {string[]} [sites]
 * @property {import('./api.js').SessionKind} [kind]
 */

/**
 * A session's links, from GET /api/sessions/{id}/links (docs/api.md); a link that cannot be
 * shown again (a session of before) is null.
 * @typedef {Object} SessionLinks
 * @property {string} session
 * @property {string} title
 * @property {import('./api.js').SessionState} state
 * @property {string|null} scheduled_start
 * @property {string|null} scheduled_end
 * @property {string|null} console_url
 * @property {string|null} attendance_url
 * @property {HallLink[]} sites
 */

/**
 * @typedef {Object} HallLink
 * @property {string} site
 * @property {string} name
 * @property {string} kind
 * @property {number} expected
 * @property {boolean} removed
 * @property {number|null} generation
 * @property {string|null} join_url
 */

/**
 * One recording of a session, from GET /api/sessions/{id}/recordings (docs/recordings.md);
 * `ended_at` is null while it is written, or when a crash cut it short.
 * @typedef {Object} Recording
 * @property {string} id
 * @property {string|null} started_at
 * @property {string|null} ended_at
 * @property {number} bytes
 * @property {string} url downloads the file, with the same token
 */

/**
 * What an import did, or would do (dry_run), line by line.
 * @typedef {Object} ImportReport
 * @property {number} created
 * @property {number} updated
 * @property {number} unchanged
 * @property {number} rejected
 * @property {boolean} dry_run
 * @property {ImportLine[]} lines
 */

/**
 * @typedef {Object} ImportLine
 * @property {number} line where the record starts in the file
 * @property {string} id
 * @property {'created'|'updated'|'unchanged'|'rejected'} result
 * @property {string} [error] why a line is rejected
 */

/**
 * What a rosters import did, or would do (POST /api/rosters/import): per line, and per site.
 * @typedef {Object} RosterImportReport
 * @property {number} created
 * @property {number} updated
 * @property {number} unchanged
 * @property {number} rejected
 * @property {number} removed people the import takes off the rosters
 * @property {boolean} dry_run
 * @property {{site: string, people: number, removed: number}[]} sites
 * @property {RosterImportLine[]} lines
 */

/**
 * @typedef {Object} RosterImportLine
 * @property {number} line where the record starts in the file
 * @property {string} site
 * @property {string} name
 * @property {string} [id] the person's id, unless rejected
 * @property {'created'|'updated'|'unchanged'|'rejected'} result
 * @property {string} [error] why a line is rejected
 */

/** The admin's calls. */
export class AdminApi {
    /** @param {string} token the admin token */
    constructor(token) {
        /** @type {string} */
        this.token = token;
    }

    /** @returns {Promise<Site[]>} sorted by id */
    async sites() {
        /** @type {{sites: Site[]}} */
        const answer = await requestJson('GET', '/api/sites', this.token);
        return answer.sites;
    }

    /**
     * Creates or replaces one site.
     * @param {Site} site
     * @returns {Promise<Site>}
     */
    putSite(site) {
        const {id, name, kind, expected} = site;
        return requestJson('PUT', `/api/sites/${encodeURIComponent(id)}`, this.token,
            {name, kind, expected});
    }

    /**
     * Imports a sites CSV; with dryRun, only says what it would do.
     * @param {Blob} file
     * @param {boolean} dryRun
     * @returns {Promise<ImportReport>}
     */
    importSites(file, dryRun) {
        const csv = new Blob([file], {type: 'text/csv'});
        return requestJson('POST', `/api/sites/import?dry_run=${dryRun ? 1 : 0}`, this.token, csv);
    }

    /**
     * Imports a rosters CSV (the whole roster of each site it names); with dryRun, only says
     * what it would do.
     * @param {Blob} file
     * @param {boolean} dryRun
     * @returns {Promise<RosterImportReport>}
     */
    importRosters(file, dryRun) {
        const csv = new Blob([file], {type: 'text/csv'});
        return requestJson('POST', `/api/rosters/import?dry_run=${dryRun ? 1 : 0}`, this.token, csv);
    }

    /** @returns {Promise<Session[]>} the most recently created first */
    async sessions() {
        /** @type {{sessions: Session[]}} */
        const answer = await requestJson('GET', '/api/sessions', this.token);
        return answer.sessions;
    }

    /**
     * @param {string} id
     * @returns {Promise<SessionDetail>}
     */
    session(id) {
        return requestJson('GET', sessionPath(id), this.token);
    }

    /**
     * @param {NewSession} session
     * @returns {Promise<Session>}
     */
    createSession(session) {
        return requestJson('POST', '/api/sessions', this.token, session);
    }

    /**
     * Puts a session's kind of conference right.
     * @param {string} id
     * @param {import('./api.js').SessionKind} kind
     * @returns {Promise<Session>}
     */
    setKind(id, kind) {
        return requestJson('PATCH', sessionPath(id), this.token, {kind});
    }

    /**
     * Starts, ends or cancels a session (a cancel is refused, 409 session_live, once it is live).
     * @param {string} id
     * @param {'start'|'end'|'cancel'} move
     * @returns {Promise<Session>}
     */
    move(id, move) {
        return requestJson('POST', `${sessionPath(id)}/${move}`, this.token);
    }

    /**
     * @param {string} id
     * @returns {Promise<SessionLinks>}
     */
    links(id) {
        return requestJson('GET', `${sessionPath(id)}/links`, this.token);
    }

    /**
     * A hall's new link (the old one refused at once), or a removal undone.
     * @param {string} id
     * @param {string} site
     * @param {'reissue'|'restore'} move
     * @returns {Promise<HallLink>}
     */
    hallLink(id, site, move) {
        return requestJson('POST', `${sessionPath(id)}/sites/${encodeURIComponent(site)}/${move}`, this.token);
    }

    /**
     * New console and attendance links (a new host token, the old one refused at once).
     * @param {string} id
     * @returns {Promise<SessionLinks>} the session's links, as links() answers them
     */
    reissueHost(id) {
        return requestJson('POST', `${sessionPath(id)}/host/reissue`, this.token);
    }

    /**
     * @param {string} id
     * @returns {Promise<Recording[]>} in the order they were made
     */
    recordings(id) {
        return requestJson('GET', `${sessionPath(id)}/recordings`, this.token);
    }

    /**
     * A recording's file, fetched with the token.
     * @param {Recording} recording
     * @returns {Promise<import('./api.js').Download>}
     */
    recordingFile(recording) {
        return downloadFile(recording.url, this.token, `${recording.id}.webm`);
    }

    /**
     * QR codes of texts, as data: URIs of SVG images, in order.
     * @param {string[]} texts
     * @returns {Promise<string[]>}
     */
    async qr(texts) {
        /** @type {{svgs: string[]}} */
        const answer = await requestJson('POST', '/api/qr', this.token, {texts});
        return answer.svgs;
    }
}

/**
 * @param {string} id
 * @returns {string}
 */
function sessionPath(id) {
    return `/api/sessions/${encodeURIComponent(id)}`;
}
