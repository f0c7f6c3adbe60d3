// @ts-check
/**
 * An attendance status as the attendance page shows it: a coloured dot and a word, since
 * colour alone would not do on a grey printer.
 */

import {element} from './dom.js';
import {t} from './i18n.js';

/**
 * A status as a coloured dot and a word: colour alone would not do on a grey printer.
 * @param {import('./api.js').AttendanceStatus} status
 * @param {string} [text] the words, else the status' name
 * @returns {HTMLElement}
 */
export function statusWord(status, text) {
    const word = element('span', 'status-word');
    word.dataset.status = status;
    const dot = element('span', 'dot');
    dot.setAttribute('aria-hidden', 'true');
    word.append(dot, text ?? statusName(status));
    return word;
}

/**
 * @param {import('./api.js').AttendanceStatus} status
 * @returns {string}
 */
export function statusName(status) {
    switch (status) {
    case 'present':
        return t('status.present');
    case 'partial':
        return t('status.partial');
    default:
        return t('status.absent');
    }
}
