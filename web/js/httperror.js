// @ts-check
/**
 * A request the server refused or never answered, as every client here sees it: the API
 * (api.js) and WHIP and WHEP (whip.js). No DOM here.
 */

/**
 * Why a request was not answered, from the HTTP status and error code:
 *   'invalid_link' 401/403, 'not_found' 404, 'codec' 422 unsupported_codec (406 from older
 *   servers), 'ended' 409 session_ended,
 *   'conflict' other 409 (not live, already published…), 'server' 5xx or 429,
 *   'network' no HTTP answer at all, 'protocol' anything else.
 * @typedef {'invalid_link'|'not_found'|'codec'|'ended'|'conflict'|'server'|'network'|'protocol'} Failure
 */

/** A failed request: the status, the server's error code, its words. */
export class HttpError extends Error {
    /**
     * @param {number} status HTTP status, 0 when no answer came
     * @param {string} error the server's error code ('invalid_token', 'session_ended', …), or a local one
     * @param {string} message
     * @param {Record<string, unknown>} [details] what the error body's `details` said
     */
    constructor(status, error, message, details) {
        super(message);
        this.name = 'HttpError';
        /** @type {number} */
        this.status = status;
        /** @type {string} */
        this.error = error;
        /** @type {Record<string, unknown>} */
        this.details = details || {};
    }

    /** @returns {Failure} */
    get failure() {
        return classify(this.status, this.error);
    }

    /** True for a link that will never work: missing, invalid, revoked or for another session. */
    get invalidLink() {
        return this.status === 401 || this.status === 403;
    }

    /** True when trying again later may succeed (server restarting, network down). */
    get retryable() {
        return this.failure === 'server' || this.failure === 'network';
    }
}

/**
 * @param {number} status
 * @param {string} [error]
 * @returns {Failure}
 */
export function classify(status, error) {
    if (status === 0)
        return 'network';
    if (status === 401 || status === 403)
        return 'invalid_link';
    if (status === 404)
        return 'not_found';
    if (status === 406 || (status === 422 && error === 'unsupported_codec'))
        return 'codec';
    if (status === 409)
        return error === 'session_ended' ? 'ended' : 'conflict';
    if (status === 429 || status >= 500)
        return 'server';
    return 'protocol';
}

/**
 * The HttpError of a refused request, from the server's error body when it sent one.
 * @param {Response} response
 * @returns {Promise<HttpError>}
 */
export async function refusal(response) {
    /** @type {unknown} */
    let body = null;
    try {
        body = await response.json();
    } catch {
        // An empty or non-JSON body (a proxy's error page): keep the status.
    }
    const fields = body && typeof body === 'object' ? /** @type {Record<string, unknown>} */ (body) : {};
    return new HttpError(
        response.status,
        typeof fields.error === 'string' ? fields.error : `http_${response.status}`,
        typeof fields.message === 'string' ? fields.message : response.statusText,
        fields.details && typeof fields.details === 'object'
            ? /** @type {Record<string, unknown>} */ (fields.details) : undefined,
    );
}

/**
 * The HttpError of a request that got no answer (network down, timed out).
 * @param {unknown} e what fetch threw
 * @returns {HttpError}
 */
export function unanswered(e) {
    return new HttpError(0, 'network', e instanceof Error ? e.message : String(e));
}
