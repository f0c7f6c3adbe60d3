// @ts-check
/**
 * What the office's pages share: the admin token (from the link's #token=…, or typed into the
 * login form; kept in this tab's sessionStorage under the key /attendance uses too), the links
 * between the pages, and how a failure is said.
 */

import {AdminApi} from './adminapi.js';
import {byId as $, setText} from './dom.js';
import {HttpError} from './httperror.js';
import {applyI18n, bindLanguageButtons, initI18n, onLanguageChange, t} from './i18n.js';
import {forgetToken, takeToken} from './token.js';

/** Where this tab keeps the admin token (shared with /attendance). */
const ADMIN_KEY = 'diemcau.token.admin';

/**
 * One office page: its login, its alert, and the view it shows once signed in.
 */
export class OfficePage {
    /**
     * @param {(api: AdminApi) => Promise<void>} load fetches what the page shows; throws on failure
     * @param {() => void} render draws the view
     */
    constructor(load, render) {
        /** @type {AdminApi|null} */
        this.api = null;
        this.load = load;
        this.renderView = render;
        this.rejected = false;
        /** @type {string} */
        this.alertText = '';
    }

    /** Reads the catalogs, wires the shell, and signs in with the link's or the tab's token. */
    async start() {
        await initI18n();
        bindLanguageButtons(document);
        onLanguageChange(() => this.render());
        // The pages' markup links only to /static/; the links between pages are set here.
        for (const link of document.querySelectorAll('a[data-page]'))
            link.setAttribute('href', link.getAttribute('data-page') || '');
        $('login-form').addEventListener('submit', async event => {
            event.preventDefault();
            const input = /** @type {HTMLInputElement} */ ($('login-token'));
            const token = input.value.trim();
            if (!token)
                return;
            await this.signIn(token);
            input.value = '';
            this.render();
        });
        const token = takeToken(ADMIN_KEY);
        if (token)
            await this.signIn(token);
        this.render();
    }

    /** @param {string} token */
    async signIn(token) {
        this.api = new AdminApi(token);
        if (await this.refresh()) {
            this.rejected = false;
            try {
                sessionStorage.setItem(ADMIN_KEY, token);
            } catch {
                // Storage disabled: the token lives as long as the page.
            }
        }
    }

    /** @returns {Promise<boolean>} whether the page's data came */
    async refresh() {
        if (!this.api)
            return false;
        try {
            await this.load(this.api);
            return true;
        } catch (e) {
            this.failed(e);
            return false;
        }
    }

    /**
     * Says a failure: a refused token goes back to the form, anything else is said on top.
     * @param {unknown} e
     */
    failed(e) {
        if (e instanceof HttpError && (e.status === 401 || e.status === 403)) {
            forgetToken(ADMIN_KEY);
            this.api = null;
            this.rejected = true;
            return;
        }
        this.alertText = describe(e);
    }

    /** @returns {boolean} */
    get ready() {
        return this.api !== null && !this.rejected;
    }

    render() {
        applyI18n(document);
        $('login').hidden = this.ready;
        $('login-error').hidden = !this.rejected;
        $('office-view').hidden = !this.ready;
        const alert = $('alert');
        setText(alert, this.alertText);
        alert.hidden = !this.alertText;
        if (this.ready)
            this.renderView();
    }
}

/**
 * A failure in words.
 * @param {unknown} e
 * @returns {string}
 */
export function describe(e) {
    if (e instanceof HttpError && e.status === 0)
        return t('office.unreachable');
    return t('office.refused', {message: e instanceof Error ? e.message : String(e)});
}
