// @ts-check
/**
 * The period view's downloads (/attendance): the period's figures as the office's workbook
 * or its PDF report (GET /api/attendance?format=xlsx|pdf), fetched with the admin token and
 * saved. The page (attendance.js) gives the token and the range shown; this module owns its
 * buttons and the line that says how the download went.
 */

import {PeriodApi} from './api.js';
import {byId as $, saveFile, setText} from './dom.js';
import {HttpError} from './httperror.js';
import {t} from './i18n.js';

/**
 * @param {() => string|null} token the admin token, once known
 * @param {() => {from: string, to: string}} shown the period the view shows
 */
export function bindPeriodExports(token, shown) {
    for (const button of document.querySelectorAll('[data-period-export]')) {
        const format = button.getAttribute('data-period-export') === 'pdf' ? 'pdf' : 'xlsx';
        button.addEventListener('click', () => {
            void download(format, /** @type {HTMLButtonElement} */ (button), token(), shown());
        });
    }
}

/**
 * @param {'xlsx'|'pdf'} format
 * @param {HTMLButtonElement} button
 * @param {string|null} bearer
 * @param {{from: string, to: string}} range
 */
async function download(format, button, bearer, range) {
    if (!bearer || button.disabled || !range.from || !range.to)
        return;
    const status = $('period-export-status');
    const say = (/** @type {string} */ text, /** @type {string} */ tone) => {
        setText(status, text);
        status.dataset.tone = tone;
        status.hidden = false;
    };
    button.disabled = true;
    say(t('export.fetching', {format: t(`export.${format}`)}), 'info');
    try {
        const file = await new PeriodApi(bearer).download(format, range.from, range.to);
        saveFile(file);
        say(t('export.done', {name: file.filename}), 'ok');
    } catch (e) {
        if (!(e instanceof HttpError))
            throw e;
        say(e.status === 0 ? t('export.network') : t('export.failed', {message: e.message || e.error}), 'error');
    } finally {
        button.disabled = false;
    }
}
