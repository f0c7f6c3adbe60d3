// @ts-check
/**
 * The JSON API of one session, called with a bearer token. No DOM here.
 *
 * Every failure is thrown as an ApiError: {status, error, message}, where status is 0 and
 * error 'network' when the server could not be reached at all.
 */

/** How long one API call may take before it counts as a network failure, in ms. */
const REQUEST_TIMEOUT = 8000;

/**
 * @typedef {'scheduled'|'live'|'ended'} SessionState
 */

/**
 * @typedef {Object} Session
 * @property {string} id
 * @property {string} title
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
 */

/**
 * @typedef {Object} SitesReport
 * @property {string} session
 * @property {SessionState} state
 * @property {SiteStatus[]} sites
 */

/** A failed API call. */
export class ApiError extends Error {
    /**
     * @param {number} status HTTP status, 0 when no answer came
     * @param {string} error the server's error code ('invalid_token', 'session_ended', …)
     * @param {string} message
     */
    constructor(status, error, message) {
        super(message);
        this.name = 'ApiError';
        /** @type {number} */
        this.status = status;
        /** @type {string} */
        this.error = error;
    }

    /** True for a link that will never work: missing, invalid, revoked or for another session. */
    get invalidLink() {
        return this.status === 401 || this.status === 403;
    }
}

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
     * @param {string} method
     * @param {string} action the last path segment
     * @returns {Promise<any>}
     */
    async request(method, action) {
        const url = `/api/sessions/${encodeURIComponent(this.sessionId)}/${action}`;
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT);
        /** @type {Response} */
        let response;
        try {
            response = await fetch(url, {
                method,
                headers: {
                    Accept: 'application/json',
                    Authorization: `Bearer ${this.token}`,
                },
                cache: 'no-store',
                signal: controller.signal,
            });
        } catch (e) {
            throw new ApiError(0, 'network', e instanceof Error ? e.message : String(e));
        } finally {
            clearTimeout(timer);
        }
        /** @type {any} */
        let body = null;
        try {
            body = await response.json();
        } catch {
            // An empty or non-JSON body (a proxy's error page): keep the status.
        }
        if (!response.ok) {
            throw new ApiError(
                response.status,
                body && typeof body.error === 'string' ? body.error : `http_${response.status}`,
                body && typeof body.message === 'string' ? body.message : response.statusText,
            );
        }
        if (body === null)
            throw new ApiError(response.status, 'bad_response', 'the server answered without JSON');
        return body;
    }
}
