// The Eyevinn clients for the test page, bundled by test_npm_clients.py with esbuild: their
// dist files import CommonJS packages (events, sdp-transform, @eyevinn/whpp-client) that a
// browser cannot import as they are. The whip-whep clients are plain ES modules: served as is.
export { WHIPClient } from '@eyevinn/whip-web-client';
export { WebRTCPlayer } from '@eyevinn/webrtc-player';
