// @ts-check
/**
 * A session's recordings on the office's sessions page (docs/recordings.md): listed under the
 * session's row when the clerk opens them, each with its times and size, and downloaded with
 * the admin token (a plain link could not carry it) as the browser's own download.
 */

import {element, saveFile} from './dom.js';
import {HttpError} from './httperror.js';
import {formatBytes, formatClock, formatDateTime, t} from './i18n.js';
import {DEFAULT_ZONE} from './zone.js';

/**
 * @typedef {import('./adminapi.js').Recording} Recording
 * @typedef {import('./api.js').Session} Session
 * @typedef {import('./office.js').OfficePage} OfficePage
 */

/** The recordings of the sessions the clerk opened, fetched when opened. */
export class RecordingLists {
    /** @param {OfficePage} office */
    constructor(office) {
        this.office = office;
        /** @type {Map<string, Recording[]|null>} each open session's list; null while it comes */
        this.open = new Map();
        /** @type {Map<string, string>} what the last download of each session did */
        this.said = new Map();
    }

    /**
     * @param {string} sessionId
     * @returns {boolean}
     */
    isOpen(sessionId) {
        return this.open.has(sessionId);
    }

    /**
     * Opens a session's list (asking the server again), or closes it.
     * @param {string} sessionId
     */
    async toggle(sessionId) {
        if (this.open.delete(sessionId)) {
            this.office.render();
            return;
        }
        this.open.set(sessionId, null);
        this.said.delete(sessionId);
        this.office.render();
        if (!this.office.api)
            return;
        try {
            const list = await this.office.api.recordings(sessionId);
            if (this.open.has(sessionId))
                this.open.set(sessionId, list);
        } catch (e) {
            this.open.delete(sessionId);
            this.office.failed(e);
        }
        this.office.render();
    }

    /**
     * @param {string} sessionId
     * @param {Recording} recording
     * @param {HTMLButtonElement} button
     */
    async download(sessionId, recording, button) {
        if (!this.office.api || button.disabled)
            return;
        button.disabled = true;
        this.said.set(sessionId, t('office.recording_fetching'));
        this.office.render();
        try {
            const file = await this.office.api.recordingFile(recording);
            saveFile(file);
            this.said.set(sessionId, t('export.done', {name: file.filename}));
        } catch (e) {
            if (!(e instanceof HttpError))
                throw e;
            this.said.set(sessionId, e.status === 0
                ? t('export.network') : t('export.failed', {message: e.message || e.error}));
            if (e.status === 401 || e.status === 403)
                this.office.failed(e);
        }
        this.office.render();
    }

    /**
     * The row under a session's that lists its recordings; null while they are closed.
     * @param {Session} session
     * @param {number} columns how many the table has
     * @returns {HTMLTableRowElement|null}
     */
    row(session, columns) {
        if (!this.open.has(session.id))
            return null;
        const list = this.open.get(session.id) ?? null;
        const row = /** @type {HTMLTableRowElement} */ (element('tr', 'recordings-row'));
        row.dataset.recordingsOf = session.id;
        const cell = /** @type {HTMLTableCellElement} */ (element('td'));
        cell.colSpan = columns;
        row.append(cell);
        if (list === null) {
            cell.append(element('p', 'muted', t('office.recordings_loading')));
            return row;
        }
        if (list.length === 0)
            cell.append(element('p', 'muted', t('office.no_recordings')));
        const items = element('ul', 'recordings');
        for (const recording of list)
            items.append(this.item(session, recording));
        if (list.length)
            cell.append(items);
        const said = this.said.get(session.id);
        if (said)
            cell.append(element('p', 'export-status', said));
        return row;
    }

    /**
     * @param {Session} session
     * @param {Recording} recording
     * @returns {HTMLElement}
     */
    item(session, recording) {
        const made = element('li', 'recording');
        made.dataset.recording = recording.id;
        const end = recording.ended_at
            ? formatClock(recording.ended_at, DEFAULT_ZONE)
            : t(session.state === 'live' ? 'office.recording_writing' : 'office.recording_cut');
        const when = `${formatDateTime(recording.started_at, DEFAULT_ZONE)} – ${end}`;
        made.append(element('span', 'recording-when', when), ' ',
            element('span', 'recording-size muted', formatBytes(recording.bytes)), ' ');
        const button = /** @type {HTMLButtonElement} */ (
            element('button', 'button small-button', t('office.recording_download')));
        button.type = 'button';
        button.addEventListener('click', () => void this.download(session.id, recording, button));
        made.append(button);
        return made;
    }
}
