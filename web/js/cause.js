// @ts-check
/**
 * Why a hall missed time, as the attendance report says it (`cause`, `cause_reason`:
 * docs/attendance.md): never opened its link, opened it late, media never connected, or its
 * network lost. The organisers act differently on each.
 */

import {element} from './dom.js';
import {hasText, t} from './i18n.js';

/**
 * The cause under a hall's status, or null when the report names none.
 * @param {{cause?: string|null, cause_reason?: string|null}} site
 * @returns {HTMLElement|null}
 */
export function causeNote(site) {
    if (!site.cause)
        return null;
    const cause = hasText(`cause.${site.cause}`) ? t(`cause.${site.cause}`) : site.cause;
    const reason = site.cause_reason && hasText(`cause_reason.${site.cause_reason}`)
        ? t(`cause_reason.${site.cause_reason}`) : site.cause_reason;
    const note = element('span', 'cause', reason ? t('cause.with_reason', {cause, reason}) : cause);
    note.dataset.cause = site.cause;
    return note;
}
