// @ts-check
/**
 * A CSV import of the office's sites page, previewed before it is applied: the file goes to
 * the server as a dry run, each of its lines is shown with what would happen to it, and the same
 * file is sent again only when the clerk applies it. The sites' import and the rosters' are two
 * of these (officesites.js), each on its own elements.
 */

import {byId as $, element, setText} from './dom.js';
import {formatNumber, t} from './i18n.js';

/**
 * @typedef {import('./adminapi.js').AdminApi} AdminApi
 * @typedef {import('./office.js').OfficePage} OfficePage
 */

/**
 * What an import answers (the sites' and the rosters' alike), line by line.
 * @typedef {Object} ImportAnswer
 * @property {number} created
 * @property {number} updated
 * @property {number} unchanged
 * @property {number} rejected
 * @property {{line: number, result: 'created'|'updated'|'unchanged'|'rejected', error?: string}[]} lines
 */

/**
 * One import: its elements, its call, and what its preview says.
 * @template {ImportAnswer} R
 * @typedef {Object} ImportSpec
 * @property {{form: string, file: string, preview: string, summary: string, rows: string,
 *     apply: string, discard: string, done: string}} ids its elements
 * @property {(api: AdminApi, file: Blob, dryRun: boolean) => Promise<R>} send
 * @property {(line: R['lines'][number]) => string[]} cells a line's cells between its number and its result
 * @property {string} summary the preview's words ({file} and the counts)
 * @property {string} done the applied import's words (the counts)
 * @property {(report: R) => Record<string, number>} [more] counts beyond the four results
 * @property {(report: R) => boolean} changes whether applying would change anything
 */

/** What an import line's result is called. */
const RESULT_WORDS = {
    created: 'office.result_created',
    updated: 'office.result_updated',
    unchanged: 'office.result_unchanged',
    rejected: 'office.result_rejected',
};

/** @template {ImportAnswer} R */
export class CsvImport {
    /**
     * @param {OfficePage} office
     * @param {ImportSpec<R>} spec
     */
    constructor(office, spec) {
        this.office = office;
        this.spec = spec;
        /** @type {{file: File, report: R}|null} the previewed file, and what the server would do */
        this.preview = null;
        /** @type {R|null} what the last applied import did */
        this.imported = null;
    }

    bind() {
        const {office, spec: {ids, send}} = this;
        const form = /** @type {HTMLFormElement} */ ($(ids.form));
        form.addEventListener('submit', async event => {
            event.preventDefault();
            const file = /** @type {HTMLInputElement} */ ($(ids.file)).files?.[0];
            if (!file || !office.api)
                return;
            office.alertText = '';
            this.imported = null;
            try {
                this.preview = {file, report: await send(office.api, file, true)};
            } catch (e) {
                this.preview = null;
                office.failed(e);
            }
            office.render();
        });
        $(ids.apply).addEventListener('click', async () => {
            if (!this.preview || !office.api)
                return;
            office.alertText = '';
            try {
                this.imported = await send(office.api, this.preview.file, false);
                this.preview = null;
                form.reset();
                await office.refresh();
            } catch (e) {
                office.failed(e);
            }
            office.render();
        });
        $(ids.discard).addEventListener('click', () => {
            this.preview = null;
            form.reset();
            office.render();
        });
    }

    render() {
        const {ids, cells} = this.spec;
        $(ids.preview).hidden = !this.preview;
        const done = $(ids.done);
        done.hidden = !this.imported;
        if (this.imported)
            setText(done, t(this.spec.done, this.counts(this.imported)));
        if (!this.preview)
            return;
        const {file, report} = this.preview;
        setText($(ids.summary), t(this.spec.summary, {file: file.name, ...this.counts(report)}));
        const rows = $(ids.rows);
        rows.replaceChildren();
        for (const line of report.lines) {
            const row = element('tr', `result-${line.result}`);
            row.append(
                element('td', 'num', String(line.line)),
                ...cells(line).map((text, i) => element('td', i === 0 ? 'site-id' : '', text)),
                element('td', '', t(RESULT_WORDS[line.result])),
                element('td', '', line.error || ''),
            );
            rows.append(row);
        }
        /** @type {HTMLButtonElement} */ ($(ids.apply)).disabled = !this.spec.changes(report);
    }

    /**
     * @param {R} report
     * @returns {Record<string, string>}
     */
    counts(report) {
        const {created, updated, unchanged, rejected} = report;
        const all = {created, updated, unchanged, rejected, ...this.spec.more?.(report)};
        return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, formatNumber(v)]));
    }
}
