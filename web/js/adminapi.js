// @ts-check
/**
 * The office's API, with the admin token: the sites and their CSV import, and the sessions
 * (docs/api.md). No DOM here.
 */

import {requestJson} from './api.js';

/**
 * @typedef {import('./api.js').Site} Site
 * @typedef {import('./api.js').Session} Session
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
}
