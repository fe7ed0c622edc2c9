// The /live demo page: one WebSocket through Gatehouse, its messages and how it closed.
import { byId } from './dom.js';

const status = byId('socket-status', HTMLElement);
const log = byId('socket-log', HTMLOListElement);
const form = byId('socket-form', HTMLFormElement);
const input = byId('socket-message', HTMLInputElement);

// Gatehouse checks the handshake's Origin instead of X-CSRF (a browser cannot add headers to
// it); the session cookie goes along as with any same-origin request.
const url = new URL(status.dataset.path ?? '/api/renku/live', location.href);
url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
const socket = new WebSocket(url);

/** @param {string} text */
function note(text) {
  const item = document.createElement('li');
  item.textContent = text;
  log.append(item);
}

socket.addEventListener('open', () => {
  status.textContent = 'open';
});
socket.addEventListener('message', (event) => {
  note(String(event.data));
});
socket.addEventListener('close', (event) => {
  // 4401: the session ended (sign-out, expiry, revocation); 4408: idle; 4410: reconnect for a fresh token.
  status.textContent = `closed (${event.code}${event.reason ? ` ${event.reason}` : ''})`;
  status.dataset.code = String(event.code);
});
form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (socket.readyState === WebSocket.OPEN) socket.send(input.value);
});
