// @ts-check
/**
 * The office's sites page (/office): the list of sites with their kind and expected people,
 * one site added or edited in place, and two CSV imports, the sites' and their rosters' (the
 * people each hall expects: its expected from then on), each first previewed line by line
 * (what would be created, updated or rejected: the server's dry run) and only then applied
 * (csvimport.js). The admin token and the page's shell: office.js.
 */

import {CsvImport} from './csvimport.js';
import {byId as $, element, setText} from './dom.js';
import {HttpError} from './httperror.js';
import {formatNumber, hasText, t} from './i18n.js';
import {OfficePage} from './office.js';

/**
 * @typedef {import('./api.js').Site} Site
 */

/** @type {Site[]} */
let sites = [];
/** The site being edited in its row (id '' and isNew for a new one), and why a save failed. */
/** @type {{site: Site, isNew: boolean, error: string}|null} */
let editing = null;

const office = new OfficePage(async api => {
    sites = await api.sites();
}, renderView);
const sitesImport = new CsvImport(office, {
    ids: {
        form: 'import-form', file: 'import-file', preview: 'preview', summary: 'preview-summary',
        rows: 'preview-rows', apply: 'import-apply', discard: 'import-discard', done: 'import-done',
    },
    send: (api, file, dryRun) => api.importSites(file, dryRun),
    cells: line => [line.id],
    summary: 'office.preview_summary',
    done: 'office.import_done',
    changes: report => report.created + report.updated > 0,
});
// A roster replaces its hall's whole list: people leaving it are a change too.
const rostersImport = new CsvImport(office, {
    ids: {
        form: 'roster-form', file: 'roster-file', preview: 'roster-preview', summary: 'roster-summary',
        rows: 'roster-rows', apply: 'roster-apply', discard: 'roster-discard', done: 'roster-done',
    },
    send: (api, file, dryRun) => api.importRosters(file, dryRun),
    cells: line => [line.site, line.name],
    summary: 'office.roster_preview_summary',
    done: 'office.roster_done',
    more: report => ({removed: report.removed, sites: report.sites.length}),
    changes: report => report.created + report.updated + report.removed > 0,
});

function bindControls() {
    sitesImport.bind();
    rostersImport.bind();
    $('site-add').addEventListener('click', () => {
        editing = {site: {id: '', name: '', kind: 'commune', expected: 0}, isNew: true, error: ''};
        office.render();
        focusEditor();
    });
}

/** Saves the site being edited, from its row's fields. */
async function saveEdit() {
    if (!editing || !office.api)
        return;
    const row = $('site-rows').querySelector('tr.editing');
    if (!row)
        return;
    /** @param {string} name @returns {string} */
    const value = name => /** @type {HTMLInputElement} */ (row.querySelector(`[name="${name}"]`)).value;
    const expected = Number(value('expected'));
    const site = {
        id: editing.isNew ? value('id').trim() : editing.site.id,
        name: value('name').trim(),
        kind: value('kind').trim(),
        expected: Number.isInteger(expected) ? expected : -1,
    };
    const edit = editing;
    edit.site = site;
    try {
        await office.api.putSite(site);
        editing = null;
        office.alertText = '';
        await office.refresh();
    } catch (e) {
        if (e instanceof HttpError && e.status === 422)
            edit.error = e.message;
        else
            office.failed(e);
    }
    office.render();
}

function focusEditor() {
    const first = /** @type {HTMLInputElement|null} */ ($('site-rows').querySelector('tr.editing input'));
    first?.focus();
}

/**
 * @param {string} kind
 * @returns {string}
 */
function kindWord(kind) {
    return hasText(`kind.${kind}`) ? t(`kind.${kind}`) : kind;
}

function renderView() {
    renderSites();
    sitesImport.render();
    rostersImport.render();
}

function renderSites() {
    const rows = $('site-rows');
    rows.replaceChildren();
    if (editing?.isNew)
        rows.append(editorRow(editing));
    for (const site of sites)
        rows.append(editing && !editing.isNew && editing.site.id === site.id ? editorRow(editing) : siteRow(site));
    $('sites-empty').hidden = sites.length > 0 || Boolean(editing);
    const people = sites.reduce((sum, site) => sum + site.expected, 0);
    setText($('sites-count'), t('office.sites_count', {sites: formatNumber(sites.length), people: formatNumber(people)}));
}

/**
 * @param {Site} site
 * @returns {HTMLTableRowElement}
 */
function siteRow(site) {
    const row = /** @type {HTMLTableRowElement} */ (element('tr'));
    row.dataset.site = site.id;
    row.append(
        element('td', 'site-id', site.id),
        element('td', 'site-name', site.name),
        element('td', '', kindWord(site.kind)),
        element('td', 'num', formatNumber(site.expected)),
    );
    const edit = element('button', 'button small-button', t('office.site_edit'));
    edit.setAttribute('type', 'button');
    edit.setAttribute('aria-label', t('office.site_edit_named', {name: site.name}));
    edit.addEventListener('click', () => {
        editing = {site: {...site}, isNew: false, error: ''};
        office.render();
        focusEditor();
    });
    const cell = element('td');
    cell.append(edit);
    row.append(cell);
    return row;
}

/**
 * A row of fields for one site; Enter saves, Escape gives up.
 * @param {{site: Site, isNew: boolean, error: string}} edit
 * @returns {HTMLTableRowElement}
 */
function editorRow(edit) {
    const row = /** @type {HTMLTableRowElement} */ (element('tr', 'editing'));
    /**
     * @param {string} name
     * @param {string} value
     * @param {string} label
     * @returns {HTMLTableCellElement}
     */
    const field = (name, value, label) => {
        const input = /** @type {HTMLInputElement} */ (element('input'));
        input.name = name;
        input.value = value;
        input.setAttribute('aria-label', t(label));
        if (name === 'expected') {
            input.type = 'number';
            input.min = '0';
        }
        if (name === 'kind')
            input.setAttribute('list', 'kinds');
        const cell = /** @type {HTMLTableCellElement} */ (element('td', name === 'expected' ? 'num' : ''));
        cell.append(input);
        return cell;
    };
    row.append(
        edit.isNew ? field('id', edit.site.id, 'office.col_id') : element('td', 'site-id', edit.site.id),
        field('name', edit.site.name, 'report.col_site'),
        field('kind', edit.site.kind, 'report.col_kind'),
        field('expected', String(edit.site.expected), 'office.col_expected'),
    );
    const save = element('button', 'button primary small-button', t('office.site_save'));
    save.setAttribute('type', 'button');
    save.addEventListener('click', saveEdit);
    const cancel = element('button', 'button small-button', t('office.site_cancel'));
    cancel.setAttribute('type', 'button');
    cancel.addEventListener('click', () => {
        editing = null;
        office.render();
    });
    const cell = element('td', 'row-actions');
    cell.append(save, cancel);
    if (edit.error)
        cell.append(element('p', 'login-error', edit.error));
    row.append(cell);
    row.addEventListener('keydown', event => {
        if (event.key === 'Enter')
            saveEdit();
        else if (event.key === 'Escape') {
            editing = null;
            office.render();
        }
    });
    return row;
}

bindControls();
office.start();
